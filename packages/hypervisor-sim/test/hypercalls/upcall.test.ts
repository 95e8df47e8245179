import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { EVTCHNOP, SHUTDOWN, VIRQ } from "@pvkit/hypervisor-sim/abi";
import { connect, mapSharedInfo, miniUpcall } from "../helpers.js";

function pair() {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain({ vcpus: 2 });
  const du = hv.createDomain({ vcpus: 2 });
  const g0 = hv.guest(0);
  const gu = hv.guest(du.domid);
  const sh0 = mapSharedInfo(g0);
  const [p0, pu] = connect(g0, gu);
  return { hv, du, g0, gu, sh0, p0, pu };
}

describe("upcalls", () => {
  it("delivers one upcall when upcall_pending goes 0 to 1 and none while it stays 1", () => {
    const { hv, g0, gu, pu } = pair();
    let calls = 0;
    g0.registerUpcall(0, () => calls++);
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
    hv.runUntilIdle();
    expect(calls).toBe(1);
    // The handler did not clear anything: a second send coalesces (already pending).
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
    hv.runUntilIdle();
    expect(calls).toBe(1);
  });

  it("masks upcalls while the handler runs and restores the mask afterwards", () => {
    const { hv, g0, gu, sh0, pu } = pair();
    const maskInside: number[] = [];
    g0.registerUpcall(0, () => {
      maskInside.push(sh0.getU8(1));
      miniUpcall(sh0, 0, [])();
    });
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
    hv.runUntilIdle();
    expect(maskInside).toEqual([1]);
    expect(sh0.getU8(1)).toBe(0);
  });

  it("holds the upcall while evtchn_upcall_mask is set and delivers it at the next hypercall after the guest clears it", () => {
    const { hv, g0, gu, sh0, p0, pu } = pair();
    const seen: number[] = [];
    g0.registerUpcall(0, miniUpcall(sh0, 0, seen));
    sh0.setU8(1, 1); // guest disables event delivery
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
    hv.runUntilIdle();
    expect(seen).toEqual([]);
    expect(sh0.getU8(0)).toBe(1); // upcall_pending set, not delivered
    sh0.setU8(1, 0); // guest re-enables; like Linux it then forces a check with a cheap hypercall
    g0.hypercall.xen_version(0);
    hv.runUntilIdle();
    expect(seen).toEqual([p0]);
  });

  it("delivers again for an event raised while the handler runs", () => {
    const { hv, g0, gu, sh0, p0, pu } = pair();
    const seen: number[] = [];
    const inner = miniUpcall(sh0, 0, seen);
    let first = true;
    g0.registerUpcall(0, () => {
      inner();
      if (first) {
        first = false;
        gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
      }
    });
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
    hv.runUntilIdle();
    expect(seen).toEqual([p0, p0]);
    expect(hv.domainById(0)!.vcpus[0]!.upcalls).toBe(2);
  });

  it("delivers to the port's notify vCPU", () => {
    const { hv, g0, gu, sh0, p0, pu } = pair();
    const seen0: number[] = [];
    const seen1: number[] = [];
    g0.registerUpcall(0, miniUpcall(sh0, 0, seen0));
    g0.registerUpcall(1, miniUpcall(sh0, 1, seen1));
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_vcpu, { port: p0, vcpu: 1 })).toBe(
      0,
    );
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
    hv.runUntilIdle();
    expect(seen0).toEqual([]);
    expect(seen1).toEqual([p0]);
  });

  it("crashes only the guest whose upcall throws, and tells dom0 with VIRQ_DOM_EXC", () => {
    const { hv, du, g0, gu, sh0 } = pair();
    const shu = mapSharedInfo(gu);
    const v = { virq: VIRQ.VIRQ_DOM_EXC, vcpu: 0, port: 0 };
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, v)).toBe(0);
    const seen0: number[] = [];
    g0.registerUpcall(0, miniUpcall(sh0, 0, seen0));
    gu.registerUpcall(0, () => {
      shu.setU8(0, 0);
      throw new Error("guest kernel bug");
    });
    hv.runUntilIdle();
    expect(du.shutdownCode).toBe(SHUTDOWN.SHUTDOWN_crash);
    expect((du.crashCause as Error).message).toBe("guest kernel bug");
    expect(seen0).toContain(v.port);
  });

  it("holds upcalls of a paused domain until it is unpaused", () => {
    const { hv, du, g0, gu, pu } = pair();
    const shu = mapSharedInfo(gu);
    const seen: number[] = [];
    gu.registerUpcall(0, miniUpcall(shu, 0, seen));
    hv.runUntilIdle();
    expect(seen).toEqual([pu]); // bind_interdomain left the binder's port pending
    seen.length = 0;
    hv.pauseDomain(du.domid);
    const u = { dom: 0x7ff0, remote_dom: du.domid, port: 0 };
    g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, u);
    const b = { remote_dom: 0, remote_port: u.port, local_port: 0 };
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, b);
    hv.runUntilIdle();
    expect(seen).toEqual([]);
    hv.unpauseDomain(du.domid);
    hv.runUntilIdle();
    expect(seen).toEqual([b.local_port]);
  });
});
