import { describe, expect, it } from "vitest";
import { evtchnBindInterdomain, evtchnSend } from "@pvkit/guest-sdk/hypercall";
import { ABIS, type Abi, guestsOn } from "./support.js";

/** A domU port `ch` bound to by dom0, and dom0's end `peer`, on the `abi` event ABI. */
function channel(lateEoi: boolean, abi: Abi) {
  const t = guestsOn(abi);
  const ch = t.evu.bindUnbound(0, { lateEoi });
  const peer = evtchnBindInterdomain(t.g0.hypercall, t.du.domid, ch.port);
  const other = t.evu.bindUnbound(0);
  const otherPeer = evtchnBindInterdomain(t.g0.hypercall, t.du.domid, other.port);
  return { ...t, ch, peer, other, otherPeer };
}

describe.each(ABIS)("late EOI on the %s ABI", (abi) => {
  it("gives a flooding peer one event until eoi(), while other ports keep being serviced", () => {
    const { hv, g0, du, ch, peer, other, otherPeer, upcallsOf } = channel(true, abi);
    let dispatched = 0;
    ch.setHandler(() => dispatched++); // the handler holds the EOI
    for (let i = 1; i <= 10_000; i++) {
      evtchnSend(g0.hypercall, peer);
      if (i % 1000 === 0) {
        evtchnSend(g0.hypercall, otherPeer);
        hv.runUntilIdle();
      } else if (i % 7 === 0) hv.runUntilIdle();
    }
    expect(dispatched).toBe(1);
    expect(ch.count).toBe(1);
    expect(ch.eoiPending).toBe(true);
    expect(other.count).toBe(10);
    // Every upcall after the first was for the other port: the masked flood raised none.
    expect(upcallsOf(du.domid)).toBe(11);
    ch.eoi();
    hv.runUntilIdle();
    // All 9,999 later sends coalesced into the one pending bit: exactly one more event.
    expect(dispatched).toBe(2);
    expect(ch.eoiPending).toBe(true);
    ch.eoi();
    hv.runUntilIdle();
    expect(dispatched).toBe(2);
    expect(ch.eoiPending).toBe(false);
    expect(ch.masked).toBe(false);
  });

  it("behaves like an ordinary port when the handler signals EOI before returning", () => {
    const { hv, g0, ch, peer } = channel(true, abi);
    ch.setHandler((_e, c) => c.eoi());
    for (let i = 0; i < 50; i++) {
      evtchnSend(g0.hypercall, peer);
      hv.runUntilIdle();
    }
    expect(ch.count).toBe(50);
    expect(ch.eoiPending).toBe(false);
  });

  it("delivers an event raised during the handler after an in-handler EOI, in the same upcall", () => {
    const { hv, g0, du, ch, peer, upcallsOf } = channel(true, abi);
    let first = true;
    ch.setHandler((_e, c) => {
      if (first) {
        first = false;
        evtchnSend(g0.hypercall, peer); // raised while masked for EOI
      }
      c.eoi(); // local unmask finds it pending: selector + upcall_pending, picked up by the loop
    });
    evtchnSend(g0.hypercall, peer);
    hv.runUntilIdle();
    expect(ch.count).toBe(2);
    expect(upcallsOf(du.domid)).toBe(1);
  });

  it("can EOI later, outside the upcall, and then receives what arrived meanwhile", async () => {
    const { hv, g0, ch, peer } = channel(true, abi);
    evtchnSend(g0.hypercall, peer);
    await hv.settle();
    expect(ch.eoiPending).toBe(true);
    evtchnSend(g0.hypercall, peer);
    await hv.settle();
    expect(ch.count).toBe(1);
    const next = ch.waitFor(1);
    ch.eoi(); // local unmask + a hypercall: Xen queues the upcall; the manual scheduler runs it
    await hv.settle();
    expect(await next).toBe(2);
  });

  it("stays masked after eoi() while an explicit mask() is still in force", () => {
    const { hv, g0, ch, peer } = channel(true, abi);
    evtchnSend(g0.hypercall, peer);
    hv.runUntilIdle();
    ch.mask();
    evtchnSend(g0.hypercall, peer);
    ch.eoi();
    hv.runUntilIdle();
    expect(ch.count).toBe(1);
    expect(ch.masked).toBe(true);
    ch.unmask();
    hv.runUntilIdle();
    expect(ch.count).toBe(2);
  });

  it("(contrast) an ordinary port takes one upcall per send when the peer floods between deliveries", () => {
    const { hv, g0, du, ch, peer, upcallsOf } = channel(false, abi);
    for (let i = 0; i < 1000; i++) {
      evtchnSend(g0.hypercall, peer);
      hv.runUntilIdle();
    }
    expect(ch.count).toBe(1000);
    expect(upcallsOf(du.domid)).toBe(1000);
  });
});
