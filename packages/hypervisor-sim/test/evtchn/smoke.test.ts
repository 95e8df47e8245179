import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, EVTCHNOP, XENMAPSPACE, XENMEM } from "@pvkit/hypervisor-sim/abi";

describe("smoke", () => {
  it("delivers an interdomain event as an upcall", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain();
    const g0 = hv.guest(0);
    const gu = hv.guest(du.domid);
    const a = { dom: DOMID_SELF, remote_dom: du.domid, port: 0 };
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, a)).toBe(0);
    expect(a.port).toBe(1);
    const b = { remote_dom: 0, remote_port: a.port, local_port: 0 };
    expect(gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, b)).toBe(0);
    let upcalls = 0;
    g0.registerUpcall(0, () => upcalls++);
    expect(gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: b.local_port })).toBe(0);
    hv.runUntilIdle();
    expect(upcalls).toBe(1);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, { domid: DOMID_SELF, space: XENMAPSPACE.XENMAPSPACE_shared_info, idx: 0, gpfn: 0x10000 })).toBe(0);
    const sh = g0.memory.page(0x10000);
    expect(sh.getU8(0x800) & 2).toBe(2);
  });
});
