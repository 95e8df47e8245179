import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, GNTMAP, GNTTABOP, GTF, XENMAPSPACE, XENMEM, XEN_ERRNO } from "@pvkit/hypervisor-sim/abi";

const addShinfo = (gpfn: number) => ({ domid: DOMID_SELF, space: XENMAPSPACE.XENMAPSPACE_shared_info, idx: 0, gpfn });

describe("XENMEM_add_to_physmap(XENMAPSPACE_shared_info)", () => {
  it("moves shared_info: the old GFN becomes a hole", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const g = hv.guest(0);
    expect(g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x10000))).toBe(0);
    const first = g.memory.page(0x10000);
    expect(g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x10001))).toBe(0);
    expect(g.memory.isHole(0x10000)).toBe(true);
    expect(() => first.getU8(0)).toThrow(/gone/);
    expect(g.memory.page(0x10001).mfn).toBe(hv.domainById(0)!.sharedInfo.mfn);
  });

  it("refuses to replace a grant mapping with -EINVAL, leaving the mapping intact", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const granter = hv.guest(hv.createDomain().domid);
    const setup = { dom: DOMID_SELF, nr_frames: 1, status: 0, frame_list: [0] };
    granter.hypercall.grant_table_op(GNTTABOP.GNTTABOP_setup_table, [setup], 1);
    const table = granter.memory.writablePage(setup.frame_list[0]!);
    table.setU16(8 * 8 + 2, 0);
    table.setU32(8 * 8 + 4, 5);
    table.setU16(8 * 8, GTF.GTF_permit_access);
    const g0 = hv.guest(0);
    const map = { host_addr: 0x20000 * 4096, flags: GNTMAP.GNTMAP_host_map, ref: 8, dom: granter.domid, status: -99, handle: 0, dev_bus_addr: 0 };
    g0.hypercall.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, [map], 1);
    expect(map.status).toBe(0);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x20000))).toBe(-XEN_ERRNO.EINVAL);
    expect(g0.memory.page(0x20000).mfn).toBe(hv.domainById(granter.domid)!.physmap.frame(5)!.mfn);
  });
});

describe("Hypervisor.guest", () => {
  it("refuses a dying domain: it runs no more code", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const granter = hv.createDomain();
    const g = hv.guest(granter.domid);
    const setup = { dom: DOMID_SELF, nr_frames: 1, status: 0, frame_list: [0] };
    g.hypercall.grant_table_op(GNTTABOP.GNTTABOP_setup_table, [setup], 1);
    const table = g.memory.writablePage(setup.frame_list[0]!);
    table.setU16(8 * 8 + 2, 0);
    table.setU32(8 * 8 + 4, 5);
    table.setU16(8 * 8, GTF.GTF_permit_access);
    const map = { host_addr: 0x20000 * 4096, flags: GNTMAP.GNTMAP_host_map, ref: 8, dom: granter.domid, status: -99, handle: 0, dev_bus_addr: 0 };
    hv.guest(0).hypercall.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, [map], 1);
    hv.destroyDomain(granter.domid);
    expect(hv.domainById(granter.domid)?.state).toBe("dying");
    expect(() => hv.guest(granter.domid)).toThrow(/dying/);
  });
});

describe("XENMEM_add_to_physmap_batch(XENMAPSPACE_gmfn_foreign)", () => {
  function setup() {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain({ nrPages: 64 });
    const other = hv.createDomain();
    return { hv, du, other, g0: hv.guest(0), gu: hv.guest(du.domid), go: hv.guest(other.domid) };
  }
  const batch = (foreign: number, idxs: number[], gpfns: number[]) => ({
    domid: DOMID_SELF,
    space: XENMAPSPACE.XENMAPSPACE_gmfn_foreign,
    size: idxs.length,
    u: { foreign_domid: foreign },
    idxs,
    gpfns,
    errs: idxs.map(() => 1),
  });

  it("maps a guest's RAM frames into dom0, aliasing them, and remove_from_physmap unmaps", () => {
    const { du, g0, gu } = setup();
    gu.memory.writablePage(3).setU32(0, 0xfeedface);
    const b = batch(du.domid, [3, 4], [0x30000, 0x30001]);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, b)).toBe(0);
    expect(b.errs).toEqual([0, 0]);
    const p = g0.memory.writablePage(0x30000);
    expect(p.getU32(0)).toBe(0xfeedface);
    p.setU32(4, 7);
    expect(gu.memory.page(3).getU32(4)).toBe(7);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_remove_from_physmap, { domid: DOMID_SELF, gpfn: 0x30000 })).toBe(0);
    expect(() => p.getU32(0)).toThrow(/gone/);
    expect(g0.memory.isHole(0x30000)).toBe(true);
  });

  it("returns -EPERM for an unprivileged caller mapping another domain's memory", () => {
    const { du, go } = setup();
    const b = batch(du.domid, [3], [0x30000]);
    expect(go.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, b)).toBe(0);
    expect(b.errs).toEqual([-XEN_ERRNO.EPERM]);
  });

  it("reports per element: -EINVAL for a hole in the foreign domain, -EBUSY for an occupied target, -ESRCH for an unknown domain", () => {
    const { du, g0 } = setup();
    const b = batch(du.domid, [3, 0x9999, 4], [0x30000, 0x30001, 0x30000]);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, b)).toBe(0);
    expect(b.errs).toEqual([0, -XEN_ERRNO.EINVAL, -XEN_ERRNO.EBUSY]);
    const c = batch(77, [3], [0x30002]);
    g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, c);
    expect(c.errs).toEqual([-XEN_ERRNO.ESRCH]);
  });

  it("is refused in the single XENMEM_add_to_physmap form with -EINVAL", () => {
    const { g0 } = setup();
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, { domid: DOMID_SELF, space: XENMAPSPACE.XENMAPSPACE_gmfn_foreign, idx: 3, gpfn: 0x30000 })).toBe(-XEN_ERRNO.EINVAL);
  });

  it("returns -EFAULT when the arrays are shorter than size", () => {
    const { du, g0 } = setup();
    const b = { ...batch(du.domid, [3], [0x30000]), size: 2 };
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, b)).toBe(-XEN_ERRNO.EFAULT);
  });

  it("remove_from_physmap refuses a grant mapping and a hole with -EINVAL", () => {
    const { g0 } = setup();
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_remove_from_physmap, { domid: DOMID_SELF, gpfn: 0x31000 })).toBe(-XEN_ERRNO.EINVAL);
  });
});
