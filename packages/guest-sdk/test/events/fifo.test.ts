// What only the FIFO ABI has: priorities, queue order, a growing event array, ports closed on
// a queue, and its set-up errors.
import { describe, expect, it } from "vitest";
import { type Guest, Hypervisor } from "@pvkit/hypervisor-sim";
import { EVTCHNOP, XEN_ERRNO } from "@pvkit/hypervisor-sim/abi";
import {
  EventChannels,
  FIFO_EVENTS_PER_ROUND,
  GuestPageAllocator,
  MAX_UPCALL_ROUNDS,
  XenError,
} from "@pvkit/guest-sdk";
import {
  evtchnBindInterdomain,
  evtchnInitControl,
  evtchnSend,
  evtchnStatus,
} from "@pvkit/guest-sdk/hypercall";
import { guestsOn, twoGuests } from "./support.js";

const LINKED = 0x2000_0000;

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("did not throw");
}

/** `g` as seen through a hypervisor whose EVTCHNOP_init_control answers `-errno`. */
function initControlFails(g: Guest, errno: number): Guest {
  const bind = (target: object, key: PropertyKey): unknown => {
    const v: unknown = Reflect.get(target, key, target);
    return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
  };
  return new Proxy(g, {
    get(target, key) {
      if (key !== "vcpu") return bind(target, key);
      return (id: number) => {
        const hc = target.vcpu(id);
        return new Proxy(hc, {
          get(h, k) {
            if (k !== "event_channel_op") return bind(h, k);
            return (cmd: number, arg: never) =>
              cmd === EVTCHNOP.EVTCHNOP_init_control ? -errno : h.event_channel_op(cmd, arg);
          },
        });
      };
    },
  });
}

describe("FIFO event channels", () => {
  it("handles a priority-0 port before a priority-9 port raised earlier (2-level goes by port number)", () => {
    for (const abi of ["fifo", "2l"] as const) {
      const { hv, evu } = guestsOn(abi);
      const order: string[] = [];
      const low = evu.bindIpi(0, { onEvent: () => order.push("low") });
      const high = evu.bindIpi(0, { onEvent: () => order.push("high") });
      expect(low.port).toBeLessThan(high.port);
      if (abi === "fifo") {
        low.setPriority(9);
        high.setPriority(0);
      }
      low.notify();
      high.notify();
      hv.runUntilIdle();
      expect(order).toEqual(abi === "fifo" ? ["high", "low"] : ["low", "high"]);
    }
  });

  it("handles the ports of one priority in the order they were raised", () => {
    const { hv, evu } = guestsOn("fifo");
    const order: number[] = [];
    const chans = Array.from({ length: 6 }, () =>
      evu.bindIpi(0, { onEvent: (e) => order.push(e.port) }),
    );
    for (const c of chans) c.setPriority(9);
    const raised = [chans[4]!, chans[0]!, chans[5]!, chans[2]!, chans[1]!, chans[3]!];
    for (const c of raised) c.notify();
    hv.runUntilIdle();
    expect(order).toEqual(raised.map((c) => c.port));
  });

  it("follows the queue through the private head while Xen appends during the round", () => {
    const { hv, evu } = guestsOn("fifo");
    const order: string[] = [];
    // c is raised by a's handler while b is still queued: Xen links it behind b, and the control
    // block's head still names a. Only the private head (b, then c) reaches it in this round.
    const c = evu.bindIpi(0, { onEvent: () => order.push("c") });
    const b = evu.bindIpi(0, { onEvent: () => order.push("b") });
    const a = evu.bindIpi(0, { onEvent: () => (order.push("a"), c.notify()) });
    a.notify();
    b.notify();
    hv.runUntilIdle();
    expect(order).toEqual(["a", "b", "c"]);
    // Every port is off the queues and later events still flow.
    b.notify();
    hv.runUntilIdle();
    expect(order).toEqual(["a", "b", "c", "b"]);
  });

  it("applies a new priority from the next raise, not to an event already queued", () => {
    const { hv, evu } = guestsOn("fifo");
    const order: string[] = [];
    const x = evu.bindIpi(0, { onEvent: () => order.push("x") });
    const y = evu.bindIpi(0, { onEvent: () => order.push("y") });
    x.setPriority(5);
    y.setPriority(5);
    x.notify();
    y.notify();
    y.setPriority(15); // y is queued at 5 already
    hv.runUntilIdle();
    x.setPriority(15);
    y.setPriority(14);
    x.notify();
    y.notify();
    hv.runUntilIdle();
    expect(order).toEqual(["x", "y", "y", "x"]);
  });

  it("adds event-array pages with expand_array as ports beyond 1023 are bound", () => {
    const { hv, evu, recordCalls } = guestsOn("fifo", { maxEvtchnPort: 4095 });
    const calls = recordCalls();
    const chans = Array.from({ length: 1100 }, () => evu.bindIpi(0));
    const last = chans.at(-1)!;
    expect(last.port).toBe(1100);
    // One page at the first bind, one more at the first port past 1023.
    expect(calls.filter((c) => c === "EVTCHNOP_expand_array")).toHaveLength(2);
    const lowOne = chans[10]!;
    last.notify();
    lowOne.notify();
    hv.runUntilIdle();
    expect([last.count, lowOne.count]).toEqual([1, 1]);
    expect(chans.reduce((n, c) => n + c.count, 0)).toBe(2);
  });

  it("reports a port beyond the 2-level limit only under FIFO", () => {
    const { evu } = guestsOn("fifo", { maxEvtchnPort: 8191 });
    const chans = Array.from({ length: 4200 }, () => evu.bindIpi(1));
    expect(chans.at(-1)!.port).toBe(4200);
    const { evu: ev2 } = guestsOn("2l", { maxEvtchnPort: 8191 });
    expect(() => Array.from({ length: 4200 }, () => ev2.bindIpi(1))).toThrow(
      expect.objectContaining({ code: "ENOSPC" }),
    );
  });

  it("consumes a port closed while LINKED without handling it, and Xen reuses it only once unlinked", () => {
    const { hv, gu, evu } = guestsOn("fifo");
    const order: string[] = [];
    const a = evu.bindIpi(0, { onEvent: () => order.push("a") });
    const b = evu.bindIpi(0, { onEvent: () => order.push("b") });
    const c = evu.bindIpi(0, { onEvent: () => order.push("c") });
    a.notify();
    b.notify();
    c.notify();
    const closed = b.port;
    b.close(); // b sits between a and c on queue 7
    expect(evtchnStatus(gu.hypercall, closed).state).toBe("closed");
    const meanwhile = evu.bindIpi(0);
    expect(meanwhile.port).not.toBe(closed); // still LINKED: Xen skips it
    hv.runUntilIdle();
    expect(order).toEqual(["a", "c"]); // c is reached through b's LINK
    const reused = evu.bindIpi(0, { onEvent: () => order.push("reused") });
    expect(reused.port).toBe(closed);
    reused.notify();
    hv.runUntilIdle();
    expect(order).toEqual(["a", "c", "reused"]);
    expect(gu.memory.page(evu.sharedInfoGfn).getU8(0)).toBe(0); // upcall_pending
  });

  it("keeps consuming when a handler closes the next port of the queue", () => {
    const { hv, evu } = guestsOn("fifo");
    const order: string[] = [];
    const c = evu.bindIpi(0, { onEvent: () => order.push("c") });
    const b = evu.bindIpi(0, { onEvent: () => order.push("b") });
    const a = evu.bindIpi(0, { onEvent: () => (order.push("a"), b.close()) });
    a.notify();
    b.notify();
    c.notify();
    hv.runUntilIdle();
    expect(order).toEqual(["a", "c"]);
    a.notify();
    c.notify();
    hv.runUntilIdle();
    expect(order).toEqual(["a", "c", "a", "c"]);
  });

  it("handles a port moved to another vCPU while queued on the vCPU whose queue holds it", () => {
    const { hv, du, g0, evu } = guestsOn("fifo");
    const vcpus: number[] = [];
    const ch = evu.bindUnbound(0, { onEvent: (e) => vcpus.push(e.vcpu) });
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
    evtchnSend(g0.hypercall, peer);
    ch.bindToVcpu(1); // the event stays LINKED on vCPU 0's queue
    hv.runUntilIdle();
    expect(vcpus).toEqual([0]);
    evtchnSend(g0.hypercall, peer);
    hv.runUntilIdle();
    expect(vcpus).toEqual([0, 1]);
  });

  it("gives the vCPU back after MAX_UPCALL_ROUNDS rounds of a port that re-raises itself", () => {
    const { hv, du, evu, upcallsOf } = guestsOn("fifo");
    const total = FIFO_EVENTS_PER_ROUND * MAX_UPCALL_ROUNDS + 100;
    const ipi = evu.bindIpi(0, { onEvent: (e, ch) => e.count < total && ch.notify() });
    ipi.notify();
    hv.runUntilIdle();
    expect(ipi.count).toBe(total);
    expect(upcallsOf(du.domid)).toBe(2);
  });

  it("throws a clear RangeError for FIFO without a page allocator, before touching Xen", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const g = hv.guest(hv.createDomain().domid);
    const err = thrown(() => EventChannels.of(g, { abi: "fifo" }));
    expect(err).toBeInstanceOf(RangeError);
    expect(String(err)).toMatch(/pages/);
    expect(() => EventChannels.of(g, { abi: "3l" as "fifo" })).toThrow(RangeError);
    // Nothing changed: the guest can still go either way.
    expect(EventChannels.of(g).abi).toBe("2l");
  });

  it("propagates an init_control failure as XenError and gives its pages back", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const g = hv.guest(hv.createDomain().domid);
    const pages = new GuestPageAllocator(g.memory);
    const nosys = thrown(() =>
      EventChannels.of(initControlFails(g, XEN_ERRNO.ENOSYS), { abi: "fifo", pages }),
    );
    expect(nosys).toBeInstanceOf(XenError);
    expect(nosys).toMatchObject({ code: "ENOSYS", op: "EVTCHNOP_init_control" });
    expect(pages.allocated).toBe(0);
    // A control block registered behind the SDK's back: Xen's EINVAL comes through.
    evtchnInitControl(g.hypercall, 0x40, 0, 0);
    expect(() => EventChannels.of(g, { abi: "fifo", pages })).toThrow(
      expect.objectContaining({ code: "EINVAL", op: "EVTCHNOP_init_control" }),
    );
    expect(pages.allocated).toBe(0);
  });

  it("refuses a 2-level subsystem on a guest the SDK switched to FIFO", () => {
    const { gu, evu } = guestsOn("fifo");
    evu.close();
    expect(() => EventChannels.of(gu)).toThrow(RangeError);
  });

  it("closes a port Xen bound when no page is left for its event word", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain({ vcpus: 1, maxEvtchnPort: 2047 });
    const g = hv.guest(du.domid);
    const pages = new GuestPageAllocator(g.memory, { count: 2 }); // control block + one array page
    const ev = EventChannels.of(g, { abi: "fifo", pages });
    for (let i = 1; i < 1024; i++) ev.bindIpi(0);
    expect(() => ev.bindIpi(0)).toThrow(expect.objectContaining({ code: "ERR_NO_PAGES" }));
    expect(evtchnStatus(g.hypercall, 1024).state).toBe("closed");
  });

  it("answers setPriority with Xen's errors", () => {
    const { evu } = twoGuests();
    expect(() => evu.bindIpi(0).setPriority(3)).toThrow(
      expect.objectContaining({
        code: "ENOSYS",
        op: "EVTCHNOP_set_priority",
        errno: XEN_ERRNO.ENOSYS,
      }),
    );
    const { evu: fifo } = guestsOn("fifo");
    const ch = fifo.bindIpi(0);
    expect(() => ch.setPriority(16)).toThrow(
      expect.objectContaining({ code: "EINVAL", op: "EVTCHNOP_set_priority" }),
    );
    ch.close();
    expect(() => ch.setPriority(1)).toThrow(expect.objectContaining({ code: "ERR_CLOSED" }));
  });

  it("leaves no port LINKED once the guest has drained its queues", () => {
    const { hv, gu, evu } = guestsOn("fifo");
    const chans = Array.from({ length: 20 }, (_, i) => evu.bindIpi(i % 2));
    chans.forEach((c, i) => void c.setPriority(i % 16));
    for (const c of chans) c.notify();
    hv.runUntilIdle();
    expect(chans.map((c) => c.count)).toEqual(chans.map(() => 1));
    // The event array is the first page the SDK allocated after the two control blocks.
    const pages = new GuestPageAllocator(gu.memory);
    const array = gu.memory.page(pages.first + 2);
    expect(chans.filter((c) => (array.getU32(c.port * 4) & LINKED) !== 0)).toEqual([]);
  });
});
