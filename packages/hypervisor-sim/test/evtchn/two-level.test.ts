// The 2-level bit protocol on the guest's shared_info bytes (`xen/common/event_2l.c`):
// evtchn_2l_set_pending and evtchn_2l_unmask, observed as a guest kernel would observe them.
import { describe, expect, it } from "vitest";
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import {
  SHINFO_EVTCHN_MASK,
  SHINFO_EVTCHN_PENDING,
  VCPU_INFO_PENDING_SEL,
  VCPU_INFO_UPCALL_MASK,
} from "@pvkit/hypervisor-sim/abi";
import {
  ackVcpu,
  allocUnbound,
  bindIpi,
  bindVcpu,
  connect,
  masked,
  pending,
  pendingPorts,
  popcount,
  sel,
  send,
  setMask,
  setSel,
  setUpcallPending,
  shinfo,
  unmask,
  upcallPending,
  world,
} from "./support.js";

/** A 2-vCPU domU connected to dom0 on a port in word 1 (port >= 64), with its shared_info mapped. */
function setup(): {
  hv: ReturnType<typeof world>["hv"];
  dom0: Guest;
  u: Guest;
  sh: Page;
  p0: number;
  pu: number;
} {
  const {
    hv,
    dom0,
    domUs: [u],
  } = world({ vcpus: 2 });
  for (let i = 0; i < 69; i++) allocUnbound(u!, 0); // ports 1..69
  const [p0, pu] = connect(dom0, u!); // pu = 70: word 1, bit 6
  const sh = shinfo(u!);
  // Forget the "pending at bind" raise so each test starts from clean bits.
  ackVcpu(sh, 0);
  sh.setU8(SHINFO_EVTCHN_PENDING + (pu >>> 3), 0);
  return { hv, dom0, u: u!, sh, p0, pu };
}

function snapshot(sh: Page): Uint8Array {
  return sh.read(0, 0xc00);
}

describe("evtchn_2l_set_pending", () => {
  it("sets the pending bit at byte 0x800 + p/8, the selector bit p/64 and upcall_pending", () => {
    const { dom0, sh, p0, pu } = setup();
    expect(pu).toBe(70);
    expect(send(dom0, p0)).toBe(0);
    expect(sh.getU8(SHINFO_EVTCHN_PENDING + 8)).toBe(1 << 6);
    expect(sh.getU8(VCPU_INFO_PENDING_SEL)).toBe(1 << 1);
    expect(upcallPending(sh, 0)).toBe(true);
    expect(popcount(sh, SHINFO_EVTCHN_PENDING, 512)).toBe(1);
    expect(popcount(sh, 64, 16)).toBe(0); // vCPU 1: upcall flags and selector untouched
  });

  it("uses the notify vCPU's vcpu_info for the selector and upcall_pending", () => {
    const { dom0, u, sh, p0, pu } = setup();
    expect(bindVcpu(u, pu, 1)).toBe(0);
    send(dom0, p0);
    expect(sel(sh, 1, 1)).toBe(true);
    expect(upcallPending(sh, 1)).toBe(true);
    expect(sel(sh, 0, 1)).toBe(false);
    expect(upcallPending(sh, 0)).toBe(false);
  });

  it("changes nothing else when the port is already pending (no selector, no upcall)", () => {
    const { dom0, sh, p0, pu } = setup();
    send(dom0, p0);
    ackVcpu(sh, 0);
    const before = snapshot(sh);
    expect(send(dom0, p0)).toBe(0);
    expect(snapshot(sh)).toEqual(before);
    expect(pending(sh, pu)).toBe(true);
    expect(sel(sh, 0, 1)).toBe(false);
    expect(upcallPending(sh, 0)).toBe(false);
  });

  it("sets only the pending bit when the port is masked", () => {
    const { dom0, sh, p0, pu } = setup();
    setMask(sh, pu, true);
    const before = snapshot(sh);
    expect(send(dom0, p0)).toBe(0);
    const after = snapshot(sh);
    expect(pending(sh, pu)).toBe(true);
    after[SHINFO_EVTCHN_PENDING + (pu >>> 3)]! &= ~(1 << (pu & 7));
    expect(after).toEqual(before);
  });

  it("leaves upcall_pending alone when the selector bit was already set", () => {
    const { dom0, sh, p0, pu } = setup();
    setSel(sh, 0, 1, true);
    send(dom0, p0);
    expect(pending(sh, pu)).toBe(true);
    expect(upcallPending(sh, 0)).toBe(false);
  });

  it("sets the selector even when upcall_pending is already set", () => {
    const { dom0, sh, p0 } = setup();
    setUpcallPending(sh, 0, 1);
    send(dom0, p0);
    expect(sel(sh, 0, 1)).toBe(true);
    expect(upcallPending(sh, 0)).toBe(true);
  });

  it("ignores evtchn_upcall_mask when setting the flags", () => {
    const { dom0, sh, p0, pu } = setup();
    sh.setU8(VCPU_INFO_UPCALL_MASK, 1);
    send(dom0, p0);
    expect([pending(sh, pu), sel(sh, 0, 1), upcallPending(sh, 0)]).toEqual([true, true, true]);
  });

  it("reports each outcome on the raise trace and kicks the vCPU only on upcall_pending 0 -> 1", () => {
    const { hv, dom0, u, sh, p0, pu } = setup();
    const outcomes: string[] = [];
    hv.trace.on("raise", (e) => {
      if (e.domid === u.domid) outcomes.push(e.outcome);
    });
    let upcalls = 0;
    u.registerUpcall(0, () => upcalls++);
    send(dom0, p0); // fresh: upcall
    hv.runUntilIdle();
    send(dom0, p0); // still pending: coalesced
    hv.runUntilIdle();
    sh.setU8(SHINFO_EVTCHN_PENDING + (pu >>> 3), 0);
    send(dom0, p0); // selector still set from the first raise
    hv.runUntilIdle();
    sh.setU8(SHINFO_EVTCHN_PENDING + (pu >>> 3), 0);
    setMask(sh, pu, true);
    send(dom0, p0); // masked
    hv.runUntilIdle();
    expect(outcomes).toEqual(["upcall", "coalesced", "selector", "masked"]);
    expect(upcalls).toBe(1);
  });

  it("sets an IPI pending on its own notify vCPU", () => {
    const { u, sh } = setup();
    const [, ipi] = bindIpi(u, 1);
    expect(send(u, ipi)).toBe(0);
    expect([pending(sh, ipi), sel(sh, 1, ipi >>> 6), upcallPending(sh, 1)]).toEqual([
      true,
      true,
      true,
    ]);
    expect(upcallPending(sh, 0)).toBe(false);
  });
});

describe("evtchn_2l_unmask (EVTCHNOP_unmask)", () => {
  it("re-raises a pending port whose mask bit was set", () => {
    const { dom0, u, sh, p0, pu } = setup();
    setMask(sh, pu, true);
    send(dom0, p0);
    expect(upcallPending(sh, 0)).toBe(false);
    expect(unmask(u, pu)).toBe(0);
    expect([masked(sh, pu), pending(sh, pu), sel(sh, 0, 1), upcallPending(sh, 0)]).toEqual([
      false,
      true,
      true,
      true,
    ]);
  });

  it("does nothing when the mask bit was already clear, even though the port is pending", () => {
    const { dom0, u, sh, p0 } = setup();
    send(dom0, p0);
    ackVcpu(sh, 0);
    const before = snapshot(sh);
    expect(unmask(u, 70)).toBe(0);
    expect(snapshot(sh)).toEqual(before);
  });

  it("only clears the mask bit when the port is not pending", () => {
    const { u, sh, pu } = setup();
    setMask(sh, pu, true);
    const before = snapshot(sh);
    expect(unmask(u, pu)).toBe(0);
    const after = snapshot(sh);
    before[SHINFO_EVTCHN_MASK + (pu >>> 3)]! &= ~(1 << (pu & 7));
    expect(after).toEqual(before);
  });

  it("leaves upcall_pending alone when the selector bit was already set", () => {
    const { dom0, u, sh, p0, pu } = setup();
    setMask(sh, pu, true);
    send(dom0, p0);
    setSel(sh, 0, 1, true);
    expect(unmask(u, pu)).toBe(0);
    expect(upcallPending(sh, 0)).toBe(false);
  });

  it("marks the port's notify vCPU, not the calling vCPU", () => {
    const { dom0, u, sh, p0, pu } = setup();
    bindVcpu(u, pu, 1);
    setMask(sh, pu, true);
    send(dom0, p0);
    expect(unmask(u, pu, 0)).toBe(0);
    expect([sel(sh, 1, 1), upcallPending(sh, 1)]).toEqual([true, true]);
    expect([sel(sh, 0, 1), upcallPending(sh, 0)]).toEqual([false, false]);
  });

  it("delivers an upcall after an unmask re-raise", () => {
    const { hv, dom0, u, sh, p0, pu } = setup();
    let upcalls = 0;
    u.registerUpcall(0, () => {
      upcalls++;
      ackVcpu(sh, 0);
    });
    setMask(sh, pu, true);
    send(dom0, p0);
    hv.runUntilIdle();
    expect(upcalls).toBe(0);
    unmask(u, pu);
    hv.runUntilIdle();
    expect(upcalls).toBe(1);
  });
});

describe("bits of other ports and domains", () => {
  it("touches no other domain's shared_info", () => {
    const { dom0, sh, p0 } = setup();
    const sh0 = shinfo(dom0);
    const before = snapshot(sh0);
    send(dom0, p0);
    expect(snapshot(sh0)).toEqual(before);
    expect(pendingPorts(sh)).toEqual([70]);
  });
});
