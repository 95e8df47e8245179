import { describe, expect, it } from "vitest";
import { firstValueFrom, switchMap, take, toArray } from "rxjs";
import { ClosedError, GNTTAB_GFN_BASE, Hypervisor } from "@pvkit/hypervisor-sim";
import { VIRQ } from "@pvkit/hypervisor-sim/abi";
import { type EventChannel, EventChannels, GuestPageAllocator, XenError } from "@pvkit/guest-sdk";
import {
  evtchnAllocUnbound,
  evtchnBindInterdomain,
  evtchnSend,
  evtchnStatus,
} from "@pvkit/guest-sdk/hypercall";
import { SH, twoGuests } from "./support.js";

/** States of the guest's ports 1..n, as Xen reports them. */
function portStates(g: { hypercall: Parameters<typeof evtchnStatus>[0] }, n = 8): string[] {
  return Array.from({ length: n }, (_, i) => evtchnStatus(g.hypercall, i + 1).state);
}

describe("EventChannels", () => {
  it("maps shared_info into a hole, masks every port and is one per guest", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const g = hv.guest(hv.createDomain({ nrPages: 256 }).domid);
    const ev = EventChannels.of(g);
    expect(EventChannels.of(g)).toBe(ev);
    expect(ev.sharedInfoGfn).toBe(GNTTAB_GFN_BASE - 1); // the highest hole below the grant-table window
    const sh = g.memory.page(ev.sharedInfoGfn);
    expect(sh.read(0xa00, 512).every((b) => b === 0xff)).toBe(true);
    // The page really is shared_info: Xen's wall clock is there (wc_version 2: written once, even).
    expect(sh.getU32(0xc00) % 2).toBe(0);
    expect(sh.getU32(0xc00)).toBe(2);
  });

  it("uses the frame the caller chooses and reports a bad one with XenError", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain();
    const g = hv.guest(du.domid);
    const ev = EventChannels.of(g, { sharedInfoGfn: 0x30000 });
    expect(ev.sharedInfoGfn).toBe(0x30000);
    ev.close();
    const again = EventChannels.of(g, { sharedInfoGfn: 0x30000 }); // a closed one is replaced
    expect(again).not.toBe(ev);
    const other = hv.guest(hv.createDomain().domid);
    expect(() => EventChannels.of(other, { sharedInfoGfn: -1 })).toThrow(
      expect.objectContaining({ code: "EINVAL", op: "XENMEM_add_to_physmap" }),
    );
  });

  it("throws, saying what to do, when a later of() asks for another set-up than the live instance's", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const g = hv.guest(hv.createDomain({ nrPages: 256, vcpus: 2 }).domid);
    const ev = EventChannels.of(g);
    const pages = new GuestPageAllocator(g.memory);
    expect(() => EventChannels.of(g, { abi: "fifo", pages })).toThrow(
      `EventChannels.of(d1): the guest's event channels are already set up, and this call asks for abi "fifo" (it runs "2l"); ` +
        "pass the same options (or none), or close() the existing instance first (its channels are closed) to set them up anew",
    );
    expect(() => EventChannels.of(g, { sharedInfoGfn: 0x30000, vcpu: 1 })).toThrow(
      `asks for sharedInfoGfn 0x30000 (shared_info is at 0x${ev.sharedInfoGfn.toString(16)}), vcpu 1 (it runs on 0);`,
    );
    expect(() => EventChannels.of(g, { abi: "fifo", pages })).toThrow(
      expect.objectContaining({ name: "PvkitError", code: "ERR_BAD_OPTION" }),
    );
    expect(pages.allocated).toBe(0); // nothing was set up by the refused calls
    // The same options, or none, are the same instance; after close() another set-up is fine.
    expect(EventChannels.of(g, { abi: "2l", sharedInfoGfn: ev.sharedInfoGfn, vcpu: 0 })).toBe(ev);
    expect(EventChannels.existing(g)).toBe(ev);
    ev.close();
    expect(EventChannels.existing(g)).toBeUndefined();
    const fifo = EventChannels.of(g, { abi: "fifo", pages });
    expect([fifo.abi, fifo.sharedInfoGfn]).toEqual(["fifo", ev.sharedInfoGfn]);
    expect(EventChannels.of(g, { pages })).toBe(fifo);
    expect(() => EventChannels.of(g, { pages: new GuestPageAllocator(g.memory) })).toThrow(
      "asks for another pages allocator;",
    );
  });

  it("binds nothing until subscribe, and closes the port on unsubscribe (the peer goes back to unbound)", async () => {
    const { hv, du, g0, gu, evu } = twoGuests();
    const p0 = evtchnAllocUnbound(g0.hypercall, du.domid);
    const before = portStates(gu);
    const chan$ = evu.interdomain$(0, p0);
    expect(portStates(gu)).toEqual(before);
    expect(evtchnStatus(g0.hypercall, p0).state).toBe("unbound");
    let ch: EventChannel | undefined;
    const sub = chan$.subscribe((c) => (ch = c));
    expect(ch).toBeDefined();
    expect(ch!.kind).toBe("interdomain");
    expect(evtchnStatus(g0.hypercall, p0)).toEqual({
      state: "interdomain",
      vcpu: 0,
      remoteDom: du.domid,
      remotePort: ch!.port,
    });
    await hv.settle();
    expect(ch!.count).toBe(1);
    sub.unsubscribe();
    expect(ch!.closed).toBe(true);
    expect(evtchnStatus(gu.hypercall, ch!.port).state).toBe("closed");
    expect(evtchnStatus(g0.hypercall, p0)).toEqual({
      state: "unbound",
      vcpu: 0,
      remoteDom: du.domid,
    });
    expect(portStates(gu)).toEqual(before);
  });

  it("binds again for each subscriber", () => {
    const { evu, gu } = twoGuests();
    const ipi$ = evu.ipi$(1);
    const ports: number[] = [];
    const a = ipi$.subscribe((c) => ports.push(c.port));
    const b = ipi$.subscribe((c) => ports.push(c.port));
    expect(new Set(ports).size).toBe(2);
    expect(ports.map((p) => evtchnStatus(gu.hypercall, p).state)).toEqual(["ipi", "ipi"]);
    a.unsubscribe();
    b.unsubscribe();
    expect(ports.map((p) => evtchnStatus(gu.hypercall, p).state)).toEqual(["closed", "closed"]);
  });

  it("streams events through switchMap and releases the port when the consumer stops", async () => {
    const { hv, du, g0, gu, evu } = twoGuests();
    const received = firstValueFrom(
      evu.unbound$(0).pipe(
        switchMap((ch) => {
          // Hand the port to the peer, which binds and sends three times.
          const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
          queueMicrotask(async () => {
            for (let i = 0; i < 3; i++) {
              evtchnSend(g0.hypercall, peer);
              await hv.settle();
            }
          });
          return ch.events$;
        }),
        take(3),
        toArray(),
      ),
    );
    const events = await received;
    expect(events.map((e) => e.count)).toEqual([1, 2, 3]);
    expect(evtchnStatus(gu.hypercall, events[0]!.port).state).toBe("closed");
  });

  it("errors the stream with XenError when the bind fails", async () => {
    const { evu } = twoGuests();
    await expect(firstValueFrom(evu.virq$(VIRQ.VIRQ_DOM_EXC, 1))).rejects.toMatchObject({
      code: "EINVAL",
      op: "EVTCHNOP_bind_virq",
    });
    await expect(firstValueFrom(evu.interdomain$(0, 3))).rejects.toBeInstanceOf(XenError);
  });

  it("completes the stream when the channel is closed directly", () => {
    const { evu } = twoGuests();
    let completed = false;
    evu.pirq$(99).subscribe({ error: () => {}, complete: () => (completed = true) }); // beyond a domU's nr_pirqs: EINVAL
    expect(completed).toBe(false);
    const sub = evu
      .ipi$(0)
      .subscribe({ next: (c) => c.close(), complete: () => (completed = true) });
    expect(completed).toBe(true);
    expect(sub.closed).toBe(true);
  });

  it("close() releases every channel and stops upcalls", async () => {
    const { hv, du, g0, gu, evu } = twoGuests();
    const a = evu.bindUnbound(0);
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, a.port);
    const b = evu.bindIpi(1);
    evu.close();
    evu.close();
    expect([a.closed, b.closed]).toEqual([true, true]);
    expect(evtchnStatus(g0.hypercall, peer).state).toBe("unbound");
    expect(evtchnStatus(gu.hypercall, b.port).state).toBe("closed");
    const before = portStates(gu);
    expect(() => evu.bindIpi(0)).toThrow(ClosedError);
    expect(() => evu.bindUnbound(0)).toThrow(ClosedError);
    expect(() => evu.adopt(b.port)).toThrow(ClosedError);
    expect(portStates(gu)).toEqual(before); // refused before the hypercall: no port bound for nothing
    // A fresh subsystem takes over the guest.
    const ev2 = EventChannels.of(gu);
    const c = ev2.bindIpi(0);
    c.notify();
    await hv.settle();
    expect(c.count).toBe(1);
    expect(gu.memory.page(ev2.sharedInfoGfn).getU8(SH.upcallPending(0))).toBe(0);
  });

  it("closes channels without error after the domain was destroyed", () => {
    const { hv, du, g0, evu } = twoGuests();
    const a = evu.bindUnbound(0);
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, a.port);
    const b = evu.bindIpi(1);
    hv.destroyDomain(du.domid);
    expect(evtchnStatus(g0.hypercall, peer).state).toBe("unbound");
    expect(() => a.close()).not.toThrow();
    expect(() => evu.close()).not.toThrow();
    expect([a.closed, b.closed]).toEqual([true, true]);
  });
});
