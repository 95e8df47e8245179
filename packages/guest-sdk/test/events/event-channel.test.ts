import { describe, expect, it } from "vitest";
import { firstValueFrom, take, toArray } from "rxjs";
import { VIRQ, XEN_ERRNO } from "@pvkit/hypervisor-sim/abi";
import { ClosedError } from "@pvkit/hypervisor-sim";
import { type ChannelEvent, XenError } from "@pvkit/guest-sdk";
import {
  evtchnAllocUnbound,
  evtchnBindInterdomain,
  evtchnSend,
  evtchnStatus,
} from "@pvkit/guest-sdk/hypercall";
import { SH, twoGuests } from "./support.js";

describe("EventChannel handles, manual scheduler", () => {
  it("carries events both ways over an interdomain channel", async () => {
    const { hv, du, ev0, evu } = twoGuests();
    const back = evu.bindUnbound(0);
    expect(back.kind).toBe("unbound");
    expect(back.status()).toEqual({ state: "unbound", vcpu: 0, remoteDom: 0 });
    const front = ev0.bindInterdomain(du.domid, back.port);
    expect(front.status()).toEqual({
      state: "interdomain",
      vcpu: 0,
      remoteDom: du.domid,
      remotePort: back.port,
    });
    await hv.settle();
    expect(front.count).toBe(1); // Xen marks the binder's new port pending
    expect(back.count).toBe(0);
    front.notify();
    await hv.settle();
    expect(back.count).toBe(1);
    back.notify();
    back.notify(); // coalesces with the first: one event
    await hv.settle();
    expect(front.count).toBe(2);
    expect(await front.waitFor(1)).toBe(2);
  });

  it("delivers a per-vCPU VIRQ on its vCPU and a global VIRQ on vCPU 0", async () => {
    const { hv, du, ev0, evu } = twoGuests();
    const events: ChannelEvent[] = [];
    const dbg = evu.bindVirq(VIRQ.VIRQ_DEBUG, 1, { onEvent: (e) => events.push(e) });
    expect(dbg.status()).toEqual({ state: "virq", vcpu: 1, virq: VIRQ.VIRQ_DEBUG });
    hv.sendDebugVirq(du.domid, 1);
    await hv.settle();
    expect(events).toEqual([{ port: dbg.port, vcpu: 1, count: 1 }]);
    const exc = ev0.bindVirq(VIRQ.VIRQ_DOM_EXC);
    const other = hv.createDomain();
    hv.destroyDomain(other.domid);
    await hv.settle();
    expect(exc.count).toBe(1);
    // A global VIRQ can move; a per-vCPU one cannot.
    exc.bindToVcpu(1);
    expect(exc.vcpu).toBe(1);
    const e = (() => {
      try {
        dbg.bindToVcpu(0);
      } catch (err) {
        return err as XenError;
      }
      return undefined;
    })();
    expect([e?.code, e?.op]).toEqual(["EINVAL", "EVTCHNOP_bind_vcpu"]);
  });

  it("raises an IPI on the bound vCPU of the same guest", async () => {
    const { hv, evu } = twoGuests();
    const events: ChannelEvent[] = [];
    const ipi = evu.bindIpi(1, { onEvent: (e) => events.push(e) });
    expect(ipi.status()).toEqual({ state: "ipi", vcpu: 1 });
    ipi.notify();
    await hv.settle();
    expect(events).toEqual([{ port: ipi.port, vcpu: 1, count: 1 }]);
  });

  it("delivers a physical IRQ bound with bindPirq", async () => {
    const { hv, ev0 } = twoGuests();
    const pirq = ev0.bindPirq(11, { share: true });
    expect(pirq.status()).toEqual({ state: "pirq", vcpu: 0, pirq: 11 });
    expect(hv.irq.raise(11)).toBe(1);
    await hv.settle();
    expect(pirq.count).toBe(1);
    expect(() => pirq.notify()).toThrow(XenError);
  });

  it("adopts a port the toolstack bound for the guest", async () => {
    const { hv, du, g0, evu } = twoGuests();
    // dom0 (privileged) allocates in the domU, then binds its own end, as a toolstack does.
    const inGuest = evtchnAllocUnbound(g0.hypercall, 0, du.domid);
    const inDom0 = evtchnBindInterdomain(g0.hypercall, du.domid, inGuest);
    const ch = evu.adopt(inGuest);
    expect(ch.kind).toBe("adopted");
    evtchnSend(g0.hypercall, inDom0);
    await hv.settle();
    expect(ch.count).toBe(1);
    expect(() => evu.adopt(inGuest)).toThrow(RangeError);
    expect(() => evu.adopt(20)).toThrow(RangeError); // free (closed) port
    expect(() => evu.adopt(900)).toThrow(
      expect.objectContaining({ code: "EINVAL", op: "EVTCHNOP_status" }),
    );
  });

  it("holds events while masked and delivers one when unmasked locally", async () => {
    const { hv, du, g0, gu, evu } = twoGuests();
    const ch = evu.bindUnbound(0);
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
    ch.mask();
    expect(ch.masked).toBe(true);
    evtchnSend(g0.hypercall, peer);
    evtchnSend(g0.hypercall, peer);
    await hv.settle();
    expect(ch.count).toBe(0);
    const sh = gu.memory.page(evu.sharedInfoGfn);
    expect(sh.getU8(SH.pendingByte(ch.port)) & (1 << (ch.port & 7))).not.toBe(0);
    ch.unmask();
    await hv.settle();
    expect(ch.count).toBe(1);
    expect(ch.masked).toBe(false);
  });

  it("closes idempotently, leaving the peer unbound, and refuses use afterwards", async () => {
    const { hv, du, g0, evu } = twoGuests();
    const ch = evu.bindUnbound(0);
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
    const waiting = ch.waitFor(0);
    const done = firstValueFrom(ch.events$.pipe(toArray()));
    ch.close();
    ch.close();
    ch[Symbol.dispose]();
    expect(ch.closed).toBe(true);
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    expect(await done).toEqual([]);
    expect(evtchnStatus(g0.hypercall, peer)).toEqual({
      state: "unbound",
      vcpu: 0,
      remoteDom: du.domid,
    });
    expect(evtchnStatus(hvGuest(), ch.port).state).toBe("closed");
    expect(() => ch.notify()).toThrow(ClosedError);
    expect(() => ch.status()).toThrow(ClosedError);
    await expect(ch.waitFor(0)).rejects.toMatchObject({
      code: "ERR_CLOSED",
      op: "waitFor",
      what: `event channel port ${ch.port}`,
    });
    expect(evu.channel(ch.port)).toBeUndefined();
    function hvGuest() {
      return hv.guest(du.domid).hypercall;
    }
  });

  it("restores the mask state when a move fails", async () => {
    const { hv, evu } = twoGuests();
    const ipi = evu.bindIpi(0);
    expect(() => ipi.bindToVcpu(1)).toThrow(
      expect.objectContaining({ code: "EINVAL", errno: XEN_ERRNO.EINVAL }),
    );
    expect(ipi.masked).toBe(false);
    ipi.notify();
    await hv.settle();
    expect(ipi.count).toBe(1);
  });

  it("emits each event on events$ while subscribed", async () => {
    const { hv, evu } = twoGuests();
    const ipi = evu.bindIpi(0);
    const three = firstValueFrom(ipi.events$.pipe(take(3), toArray()));
    for (let i = 0; i < 3; i++) {
      ipi.notify();
      await hv.settle();
    }
    expect((await three).map((e) => e.count)).toEqual([1, 2, 3]);
  });
});

describe("EventChannel handles, auto scheduler", () => {
  it("delivers VIRQ, IPI and PIRQ events", async () => {
    const { hv, du, ev0, evu } = twoGuests("auto");
    const dbg = evu.bindVirq(VIRQ.VIRQ_DEBUG, 0);
    const ipi = evu.bindIpi(1);
    const pirq = ev0.bindPirq(4);
    hv.sendDebugVirq(du.domid, 0);
    ipi.notify();
    hv.irq.raise(4);
    expect(await Promise.all([dbg.waitFor(0), ipi.waitFor(0), pirq.waitFor(0)])).toEqual([1, 1, 1]);
  });

  it("fires VIRQ_TIMER from a single-shot timer in virtual time", async () => {
    const { hv, gu, evu } = twoGuests("auto");
    const timer = evu.bindVirq(VIRQ.VIRQ_TIMER, 0);
    gu.hypercall.set_timer_op(hv.now + 5_000_000);
    expect(await timer.waitFor(0)).toBe(1);
    expect(hv.now).toBe(5_000_000);
  });
});
