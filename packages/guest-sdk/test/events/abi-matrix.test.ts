// The event subsystem's main behaviours, run under both event ABIs: what a channel user sees
// must not depend on whether the guest speaks 2-level or FIFO.
import { describe, expect, it } from "vitest";
import { ClosedError, Hypervisor } from "@pvkit/hypervisor-sim";
import { VIRQ } from "@pvkit/hypervisor-sim/abi";
import { type ChannelEvent, EventChannels } from "@pvkit/guest-sdk";
import {
  evtchnAllocUnbound,
  evtchnBindInterdomain,
  evtchnSend,
  evtchnStatus,
} from "@pvkit/guest-sdk/hypercall";
import { ABIS, abiOptions, guestsOn } from "./support.js";

describe.each(ABIS)("event channels on the %s ABI", (abi) => {
  it("runs on the ABI it was asked for", () => {
    const { ev0, evu } = guestsOn(abi);
    expect([ev0.abi, evu.abi]).toEqual([abi, abi]);
  });

  it("carries events both ways over an interdomain channel, coalescing repeated sends", async () => {
    const { hv, du, ev0, evu } = guestsOn(abi);
    const back = evu.bindUnbound(0);
    const front = ev0.bindInterdomain(du.domid, back.port);
    await hv.settle();
    expect([front.count, back.count]).toEqual([1, 0]); // the binder's new port starts pending
    front.notify();
    await hv.settle();
    expect(back.count).toBe(1);
    back.notify();
    back.notify();
    await hv.settle();
    expect(front.count).toBe(2);
  });

  it("delivers VIRQ, IPI and PIRQ events on their vCPUs", async () => {
    const { hv, du, ev0, evu } = guestsOn(abi);
    const events: ChannelEvent[] = [];
    const onEvent = (e: ChannelEvent): void => void events.push(e);
    const dbg = evu.bindVirq(VIRQ.VIRQ_DEBUG, 1, { onEvent });
    const ipi = evu.bindIpi(1, { onEvent });
    const pirq = ev0.bindPirq(11, { onEvent });
    const exc = ev0.bindVirq(VIRQ.VIRQ_DOM_EXC, 0, { onEvent });
    hv.sendDebugVirq(du.domid, 1);
    ipi.notify();
    expect(hv.irq.raise(11)).toBe(1);
    hv.destroyDomain(hv.createDomain().domid);
    await hv.settle();
    expect(new Set(events.map((e) => `${e.port}@${e.vcpu}`))).toEqual(
      new Set([`${dbg.port}@1`, `${ipi.port}@1`, `${pirq.port}@0`, `${exc.port}@0`]),
    );
    expect([dbg.count, ipi.count, pirq.count, exc.count]).toEqual([1, 1, 1, 1]);
  });

  it("adopts a port the toolstack bound and raised before the guest set up its events", async () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain();
    const g0 = hv.guest(0);
    const gu = hv.guest(du.domid);
    // dom0 (privileged) allocates in the domU and binds its own end, as a toolstack does.
    const inGuest = evtchnAllocUnbound(g0.hypercall, 0, du.domid);
    const inDom0 = evtchnBindInterdomain(g0.hypercall, du.domid, inGuest);
    evtchnSend(g0.hypercall, inDom0); // pending in the domU's 2-level bits; nobody listens yet
    const evu = EventChannels.of(gu, abiOptions(abi, gu));
    const ch = evu.adopt(inGuest);
    await hv.settle();
    expect(ch.count).toBe(1); // FIFO: Xen remembered it at the switch and raised it again
    evtchnSend(g0.hypercall, inDom0);
    await hv.settle();
    expect(ch.count).toBe(2);
  });

  it("moves a channel to another vCPU and keeps delivering there", async () => {
    const { hv, du, g0, evu } = guestsOn(abi);
    const events: ChannelEvent[] = [];
    const ch = evu.bindUnbound(0, { onEvent: (e) => events.push(e) });
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
    ch.bindToVcpu(1);
    expect(ch.vcpu).toBe(1);
    evtchnSend(g0.hypercall, peer);
    await hv.settle();
    expect(events).toEqual([{ port: ch.port, vcpu: 1, count: 1 }]);
  });

  it("holds events while masked and delivers one when unmasked on the port's vCPU", async () => {
    const { hv, du, g0, evu, recordCalls } = guestsOn(abi);
    const ch = evu.bindUnbound(0);
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
    // Masked and not pending: both ABIs unmask locally, without EVTCHNOP_unmask.
    ch.mask();
    let calls = recordCalls();
    ch.unmask();
    expect(calls).not.toContain("EVTCHNOP_unmask");
    ch.mask();
    evtchnSend(g0.hypercall, peer);
    evtchnSend(g0.hypercall, peer);
    await hv.settle();
    expect(ch.count).toBe(0);
    expect(ch.masked).toBe(true);
    calls = recordCalls();
    ch.unmask();
    // Pending: 2-level resends locally (selector + upcall_pending + a cheap hypercall); FIFO
    // must let Xen link the port.
    expect(calls.includes("EVTCHNOP_unmask")).toBe(abi === "fifo");
    await hv.settle();
    expect(ch.count).toBe(1);
    expect(ch.masked).toBe(false);
  });

  it("unmasks a pending port of another vCPU with the hypercall", async () => {
    const { hv, du, g0, evu, recordCalls } = guestsOn(abi);
    const events: ChannelEvent[] = [];
    const ch = evu.bindUnbound(0, { onEvent: (e) => events.push(e) });
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
    ch.bindToVcpu(1);
    ch.mask();
    evtchnSend(g0.hypercall, peer);
    await hv.settle();
    expect(events).toEqual([]);
    const calls = recordCalls();
    ch.unmask();
    expect(calls).toContain("EVTCHNOP_unmask");
    await hv.settle();
    expect(events).toEqual([{ port: ch.port, vcpu: 1, count: 1 }]);
  });

  it("close() releases every port (peers go back to unbound) and a fresh subsystem takes over", async () => {
    const { hv, du, g0, gu, evu } = guestsOn(abi);
    const a = evu.bindUnbound(0);
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, a.port);
    const b = evu.bindIpi(1);
    evu.close();
    expect([a.closed, b.closed]).toEqual([true, true]);
    expect(evtchnStatus(g0.hypercall, peer).state).toBe("unbound");
    expect(evtchnStatus(gu.hypercall, b.port).state).toBe("closed");
    expect(() => evu.bindIpi(0)).toThrow(ClosedError);
    const ev2 = EventChannels.of(gu, abiOptions(abi, gu));
    expect(ev2.abi).toBe(abi);
    const c = ev2.bindIpi(0);
    c.notify();
    await hv.settle();
    expect(c.count).toBe(1);
  });

  it("ping-pongs between two domains with the auto scheduler", async () => {
    const { du, ev0, evu } = guestsOn(abi, { mode: "auto" });
    const back = evu.bindUnbound(0);
    const front = ev0.bindInterdomain(du.domid, back.port);
    let seen = await front.waitFor(0);
    for (let i = 0; i < 20; i++) {
      const before = back.count;
      front.notify();
      await back.waitFor(before);
      back.notify();
      seen = await front.waitFor(seen);
    }
    expect([back.count, front.count]).toEqual([20, 21]);
  });
});
