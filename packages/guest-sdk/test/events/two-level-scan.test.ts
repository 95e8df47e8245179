import { describe, expect, it } from "vitest";
import { map } from "rxjs";
import { Hypervisor, type Guest, type Page } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, VIRQ, XENMAPSPACE, XENMEM } from "@pvkit/hypervisor-sim/abi";
import { type ChannelEvent, type EventHandlerError, MAX_UPCALL_ROUNDS } from "@pvkit/guest-sdk";
import {
  evtchnAllocUnbound,
  evtchnBindInterdomain,
  evtchnBindIpi,
  evtchnSend,
} from "@pvkit/guest-sdk/hypercall";
import { SH, twoGuests } from "./support.js";

// ---- raw guests with a hand-written upcall, to show what the scenarios catch -------------------

const RAW_SHINFO_GFN = 0x20000;

function rawSharedInfo(g: Guest): Page {
  const a = {
    domid: DOMID_SELF,
    space: XENMAPSPACE.XENMAPSPACE_shared_info,
    idx: 0,
    gpfn: RAW_SHINFO_GFN,
  };
  if (g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, a) !== 0)
    throw new Error("add_to_physmap");
  return g.memory.writablePage(RAW_SHINFO_GFN);
}

const isSet = (sh: Page, base: number, port: number): boolean =>
  (sh.getU8(base + (port >>> 3)) & (1 << (port & 7))) !== 0;
const clearPending = (sh: Page, port: number): void => {
  sh.setU8(0x800 + (port >>> 3), sh.getU8(0x800 + (port >>> 3)) & ~(1 << (port & 7)));
};

/**
 * Mini-OS's scan on vCPU 0 (`hypervisor.c`: `do_hypervisor_callback`), optionally with the
 * store of upcall_pending = 0 moved after the scan (the ordering bug): for each selector bit,
 * while the word has a pending unmasked port, take the lowest, clear it, handle it.
 */
function miniOsUpcall(
  sh: Page,
  handle: (port: number) => void,
  clearAfterScan = false,
): () => void {
  return () => {
    if (!clearAfterScan) sh.setU8(SH.upcallPending(0), 0);
    const sel = [sh.getU32(SH.selLo(0)), sh.getU32(SH.selHi(0))];
    sh.setU32(SH.selLo(0), 0);
    sh.setU32(SH.selHi(0), 0);
    for (let w = 0; w < 64; w++) {
      if (((sel[w >>> 5]! >>> (w & 31)) & 1) === 0) continue;
      for (;;) {
        let port = -1;
        for (let b = 0; b < 64 && port < 0; b++) {
          const p = w * 64 + b;
          if (isSet(sh, 0x800, p) && !isSet(sh, 0xa00, p)) port = p;
        }
        if (port < 0) break;
        clearPending(sh, port);
        handle(port);
      }
    }
    if (clearAfterScan) sh.setU8(SH.upcallPending(0), 0);
  };
}

/** A raw dom0 + domU pair where the domU runs `miniOsUpcall`. */
function rawPair() {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  const du = hv.createDomain();
  const g0 = hv.guest(0);
  const gu = hv.guest(du.domid);
  return { hv, du, g0, gu, sh: rawSharedInfo(gu) };
}

// ---- the SDK's handler ---------------------------------------------------------------------

describe("the 2-level upcall handler", () => {
  it("picks up, in the same upcall, an event raised by a handler after the selector exchange", () => {
    const { hv, g0, du, evu, upcallsOf } = twoGuests();
    const seen: number[] = [];
    const a = evu.bindUnbound(0);
    for (let i = 0; i < 70; i++) evtchnAllocUnbound(gu(), 0); // push the next port into word 1
    const b = evu.bindUnbound(0);
    function gu() {
      return hv.guest(du.domid).hypercall;
    }
    expect(a.port >>> 6).toBe(0);
    expect(b.port >>> 6).toBe(1);
    const a0 = evtchnBindInterdomain(g0.hypercall, du.domid, a.port);
    const b0 = evtchnBindInterdomain(g0.hypercall, du.domid, b.port);
    a.setHandler((e) => {
      seen.push(e.port);
      evtchnSend(g0.hypercall, b0); // raised after this round exchanged the selector
    });
    b.setHandler((e) => seen.push(e.port));
    evtchnSend(g0.hypercall, a0);
    hv.runUntilIdle();
    expect(seen).toEqual([a.port, b.port]);
    expect(upcallsOf(du.domid)).toBe(1);
    const sh = hv.guest(du.domid).memory.page(evu.sharedInfoGfn);
    expect([sh.getU8(SH.upcallPending(0)), sh.getU32(SH.selLo(0)), sh.getU32(SH.selHi(0))]).toEqual(
      [0, 0, 0],
    );
    expect(isSet(sh as Page, 0x800, b.port)).toBe(false);
  });

  it("(contrast) loses that event when upcall_pending is cleared after the scan instead of before the exchange", () => {
    const { hv, g0, gu, du, sh } = rawPair();
    const a = evtchnAllocUnbound(gu.hypercall, 0);
    for (let i = 0; i < 70; i++) evtchnAllocUnbound(gu.hypercall, 0);
    const b = evtchnAllocUnbound(gu.hypercall, 0);
    const a0 = evtchnBindInterdomain(g0.hypercall, du.domid, a);
    const b0 = evtchnBindInterdomain(g0.hypercall, du.domid, b);
    const seen: number[] = [];
    gu.registerUpcall(
      0,
      miniOsUpcall(
        sh,
        (port) => {
          seen.push(port);
          if (port === a) evtchnSend(g0.hypercall, b0);
        },
        true,
      ),
    );
    evtchnSend(g0.hypercall, a0);
    hv.runUntilIdle();
    expect(seen).toEqual([a]);
    // Stranded: pending and flagged in the selector, but upcall_pending is 0, so Xen never kicks.
    expect(isSet(sh, 0x800, b)).toBe(true);
    expect(sh.getU32(SH.selLo(0))).toBe(1 << 1);
    expect(sh.getU8(SH.upcallPending(0))).toBe(0);
  });

  it("services a high port while a low port of the same word re-fires on every dispatch", () => {
    const { hv, du, evu } = twoGuests();
    const order: string[] = [];
    let refires = 1000;
    const low = evu.bindIpi(0, {
      onEvent: (_e, ch) => {
        order.push("low");
        if (refires-- > 0) ch.notify();
      },
    });
    const high = evu.bindIpi(0, { onEvent: () => order.push("high") });
    expect(low.port >>> 6).toBe(high.port >>> 6);
    expect(low.port).toBeLessThan(high.port);
    hv.pauseDomain(du.domid); // both pending before the first upcall
    low.notify();
    high.notify();
    hv.unpauseDomain(du.domid);
    hv.runUntilIdle();
    expect(order.indexOf("high")).toBe(1);
    expect(order.filter((o) => o === "low")).toHaveLength(1001);
    expect(low.count).toBe(1001);
    expect(high.count).toBe(1);
  });

  it("(contrast) a Mini-OS-style scan starves the high port until the low one stops", () => {
    const { hv, du, gu, sh } = rawPair();
    const low = evtchnBindIpi(gu.hypercall, 0);
    const high = evtchnBindIpi(gu.hypercall, 0);
    const order: string[] = [];
    let refires = 1000;
    gu.registerUpcall(
      0,
      miniOsUpcall(sh, (port) => {
        order.push(port === low ? "low" : "high");
        if (port === low && refires-- > 0) evtchnSend(gu.hypercall, low);
      }),
    );
    hv.pauseDomain(du.domid);
    evtchnSend(gu.hypercall, low);
    evtchnSend(gu.hypercall, high);
    hv.unpauseDomain(du.domid);
    hv.runUntilIdle();
    expect(order.indexOf("high")).toBe(1001);
  });

  it("resumes the next scan one past the last port handled", () => {
    const { hv, du, evu } = twoGuests();
    const order: number[] = [];
    const chans = [0, 1, 2].map(() => evu.bindIpi(0, { onEvent: (e) => order.push(e.port) }));
    const [c1, c2, c3] = chans as [(typeof chans)[0], (typeof chans)[0], (typeof chans)[0]];
    c2.notify();
    hv.runUntilIdle(); // last handled: c2
    order.length = 0;
    hv.pauseDomain(du.domid);
    c1.notify();
    c3.notify();
    hv.unpauseDomain(du.domid);
    hv.runUntilIdle();
    expect(order).toEqual([c3.port, c1.port]); // c3 comes after c2; c1 only after wrapping
  });

  it("handles this vCPU's VIRQ_TIMER port before lower pending ports", () => {
    const { hv, du, gu, evu } = twoGuests();
    const order: string[] = [];
    const p = evu.bindIpi(0, { onEvent: () => order.push("ipi") });
    const timer = evu.bindVirq(VIRQ.VIRQ_TIMER, 0, { onEvent: () => order.push("timer") });
    expect(p.port).toBeLessThan(timer.port);
    hv.pauseDomain(du.domid);
    p.notify();
    expect(gu.hypercall.set_timer_op(hv.now + 1000)).toBe(0);
    hv.advance(1000);
    hv.unpauseDomain(du.domid);
    hv.runUntilIdle();
    expect(order).toEqual(["timer", "ipi"]);
  });

  it("dispatches a port on the vCPU it is bound to", () => {
    const { hv, g0, du, evu, upcallsOf } = twoGuests();
    const events: ChannelEvent[] = [];
    const ch = evu.bindUnbound(0, { onEvent: (e) => events.push(e) });
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
    ch.bindToVcpu(1);
    expect(ch.vcpu).toBe(1);
    expect(ch.status().vcpu).toBe(1);
    evtchnSend(g0.hypercall, peer);
    hv.runUntilIdle();
    expect(events).toEqual([{ port: ch.port, vcpu: 1, count: 1 }]);
    expect([upcallsOf(du.domid, 0), upcallsOf(du.domid, 1)]).toEqual([0, 1]);
  });

  it("ignores a port left flagged in the old vCPU's selector after a move, and delivers it on the new one", () => {
    const { hv, g0, du, gu, evu } = twoGuests();
    const events: ChannelEvent[] = [];
    const ch = evu.bindUnbound(0, { onEvent: (e) => events.push(e) });
    const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
    hv.pauseDomain(du.domid);
    evtchnSend(g0.hypercall, peer); // pending, flagged in vCPU 0's selector
    const sh = gu.memory.page(evu.sharedInfoGfn);
    expect(sh.getU32(SH.selLo(0)) & 1).toBe(1);
    ch.bindToVcpu(1); // masks, moves, unmasks with the hypercall: Xen re-raises it on vCPU 1
    expect(sh.getU32(SH.selLo(1)) & 1).toBe(1);
    hv.unpauseDomain(du.domid);
    hv.runUntilIdle();
    expect(events).toEqual([{ port: ch.port, vcpu: 1, count: 1 }]);
  });

  it("keeps servicing other ports when a user callback throws, and reports the error", () => {
    const { hv, du, evu } = twoGuests();
    const errors: EventHandlerError[] = [];
    evu.errors$.subscribe((e) => errors.push(e));
    const bad = evu.bindIpi(0, {
      onEvent: () => {
        throw new Error("driver bug");
      },
    });
    const seen: number[] = [];
    const good = evu.bindIpi(0, { onEvent: (e) => seen.push(e.count) });
    hv.pauseDomain(du.domid);
    bad.notify();
    good.notify();
    hv.unpauseDomain(du.domid);
    hv.runUntilIdle();
    expect(seen).toEqual([1]);
    expect(errors.map((e) => [e.port, e.vcpu, (e.error as Error).message])).toEqual([
      [bad.port, 0, "driver bug"],
    ]);
    expect(du.shutdownCode).toBeUndefined();
    // Both keep working.
    bad.notify();
    good.notify();
    hv.runUntilIdle();
    expect(seen).toEqual([1, 2]);
    expect(bad.count).toBe(2);
    expect(errors).toHaveLength(2);
  });

  it("reports a throwing events$ subscriber at once, as a throwing onEvent, and serves the other subscribers", () => {
    const { hv, evu } = twoGuests();
    const errors: EventHandlerError[] = [];
    evu.errors$.subscribe((e) => errors.push(e));
    const ch = evu.bindIpi(1);
    const seen: number[] = [];
    ch.events$.subscribe(() => {
      throw new Error("subscriber bug");
    });
    // Piped: an operator's throw errors that chain, whose consumer handles no error.
    ch.events$
      .pipe(
        map((e) => {
          if (e.count === 2) throw new Error("operator bug");
          return e.count;
        }),
      )
      .subscribe((n) => seen.push(n));
    ch.events$.subscribe({ next: (e) => seen.push(100 + e.count) });
    ch.notify();
    hv.runUntilIdle();
    // Synchronously, inside the upcall: nothing is left for rxjs to rethrow on a real timer.
    expect(errors.map((e) => [e.port, e.vcpu, (e.error as Error).message])).toEqual([
      [ch.port, 1, "subscriber bug"],
    ]);
    expect(seen).toEqual([1, 101]);
    ch.notify();
    hv.runUntilIdle();
    expect(errors.map((e) => (e.error as Error).message)).toEqual([
      "subscriber bug",
      "subscriber bug",
      "operator bug",
    ]);
    expect(seen).toEqual([1, 101, 102]);
    expect(evu.unobservedErrors).toBe(0);
  });

  it("gives the vCPU back after MAX_UPCALL_ROUNDS rounds of a port that re-raises itself", () => {
    const { hv, du, evu, upcallsOf } = twoGuests();
    const ipi = evu.bindIpi(0, { onEvent: (e, ch) => e.count < 5000 && ch.notify() });
    ipi.notify();
    hv.runUntilIdle();
    expect(ipi.count).toBe(5000);
    // Each re-raise set upcall_pending through Xen, which queued a new upcall for when we returned.
    expect(upcallsOf(du.domid)).toBe(Math.ceil(5000 / MAX_UPCALL_ROUNDS)); // 5: each upcall gives up after the round limit
  });

  it("asks Xen for a new upcall after the round limit when only the guest itself set upcall_pending", async () => {
    const { hv, du, gu, evu, upcallsOf } = twoGuests();
    // Late EOI: the re-raise happens while masked (no selector, no kick); eoi() then unmasks
    // locally and sets upcall_pending itself, which Xen never sees.
    const ipi = evu.bindIpi(0, {
      lateEoi: true,
      onEvent: (e, ch) => {
        if (e.count < 5000) ch.notify();
        ch.eoi();
      },
    });
    ipi.notify();
    hv.runUntilIdle();
    expect(ipi.count).toBe(MAX_UPCALL_ROUNDS + 1); // 1025: the first upcall's rounds, the limit hit
    expect(upcallsOf(du.domid)).toBe(1);
    expect(gu.memory.page(evu.sharedInfoGfn).getU8(SH.upcallPending(0))).toBe(1);
    await hv.settle(); // the microtask's hypercall makes Xen deliver again
    expect(ipi.count).toBe(5000);
    expect(upcallsOf(du.domid)).toBe(5);
  });

  it("counts handler errors nobody observes instead of dropping the upcall", () => {
    const { hv, evu } = twoGuests();
    const bad = evu.bindIpi(1, {
      onEvent: () => {
        throw new Error("x");
      },
    });
    bad.notify();
    hv.runUntilIdle();
    expect(bad.count).toBe(1);
    expect(evu.unobservedErrors).toBe(1);
  });
});
