import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  GNTMAP,
  GNTTABOP,
  GTF,
  XENMAPSPACE,
  XENMEM,
  XEN_ERRNO,
} from "@pvkit/hypervisor-sim/abi";
import { internal } from "../internals.js";

const addShinfo = (gpfn: number) => ({
  domid: DOMID_SELF,
  space: XENMAPSPACE.XENMAPSPACE_shared_info,
  idx: 0,
  gpfn,
});

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
    expect(g.memory.page(0x10001).mfn).toBe(internal(hv.domainById(0)!).sharedInfo.mfn);
  });

  it("returns -ENXIO over a grant mapping, leaving the mapping intact (guest_remove_page: get_page fails on the granter's page)", () => {
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
    const map = {
      host_addr: 0x20000 * 4096,
      flags: GNTMAP.GNTMAP_host_map,
      ref: 8,
      dom: granter.domid,
      status: -99,
      handle: 0,
      dev_bus_addr: 0,
    };
    g0.hypercall.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, [map], 1);
    expect(map.status).toBe(0);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x20000))).toBe(
      -XEN_ERRNO.ENXIO,
    );
    expect(g0.memory.page(0x20000).mfn).toBe(
      internal(hv.domainById(granter.domid)!).physmap.frame(5)!.mfn,
    );
    expect(hv.domainById(0)!.sharedInfoGfn).toBeUndefined();
  });

  it("frees the RAM page it replaces: XENMEM_current_reservation drops by one (guest_remove_page)", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const g = hv.guest(hv.createDomain({ nrPages: 64 }).domid);
    const cur = () =>
      g.hypercall.memory_op(XENMEM.XENMEM_current_reservation, { domid: DOMID_SELF });
    g.memory.writablePage(7).setU8(0, 1);
    g.memory.writablePage(8).setU8(0, 1);
    expect(cur()).toBe(2);
    expect(g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(7))).toBe(0);
    expect(cur()).toBe(1);
    // Moving shared_info on unhooks it: the hole at 7 holds nothing to free.
    expect(g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x10000))).toBe(0);
    expect([cur(), g.memory.isHole(7)]).toEqual([1, true]);
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
    const map = {
      host_addr: 0x20000 * 4096,
      flags: GNTMAP.GNTMAP_host_map,
      ref: 8,
      dom: granter.domid,
      status: -99,
      handle: 0,
      dev_bus_addr: 0,
    };
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
    expect(
      g0.hypercall.memory_op(XENMEM.XENMEM_remove_from_physmap, {
        domid: DOMID_SELF,
        gpfn: 0x30000,
      }),
    ).toBe(0);
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
    expect(
      g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
        domid: DOMID_SELF,
        space: XENMAPSPACE.XENMAPSPACE_gmfn_foreign,
        idx: 3,
        gpfn: 0x30000,
      }),
    ).toBe(-XEN_ERRNO.EINVAL);
  });

  it("returns -EFAULT when the arrays are shorter than size", () => {
    const { du, g0 } = setup();
    const b = { ...batch(du.domid, [3], [0x30000]), size: 2 };
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, b)).toBe(-XEN_ERRNO.EFAULT);
  });

  it("add_to_physmap(shared_info) returns -ENXIO over a gmfn_foreign mapping of RAM and unhooks one of a Xen page (is_special_page)", () => {
    const { hv, du, g0, gu } = setup();
    expect(gu.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x10000))).toBe(0);
    const b = batch(du.domid, [3, 0x10000], [0x30000, 0x30001]);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, b)).toBe(0);
    expect(b.errs).toEqual([0, 0]);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x30000))).toBe(
      -XEN_ERRNO.ENXIO,
    );
    expect(g0.memory.page(0x30000).mfn).toBe(internal(du).physmap.frame(3)!.mfn);
    const foreignShinfo = g0.memory.page(0x30001);
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x30001))).toBe(0);
    expect(foreignShinfo.alive).toBe(false);
    expect(g0.memory.page(0x30001).mfn).toBe(internal(hv.domainById(0)!).sharedInfo.mfn);
    expect(du.sharedInfoGfn).toBe(0x10000);
  });
});

describe("XENMEM_remove_from_physmap", () => {
  function setup() {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain({ nrPages: 64 });
    return { hv, du, g0: hv.guest(0), gu: hv.guest(du.domid) };
  }
  const rfp = (g: ReturnType<Hypervisor["guest"]>, gpfn: number) =>
    g.hypercall.memory_op(XENMEM.XENMEM_remove_from_physmap, { domid: DOMID_SELF, gpfn });
  const cur = (g: ReturnType<Hypervisor["guest"]>) =>
    g.hypercall.memory_op(XENMEM.XENMEM_current_reservation, { domid: DOMID_SELF });

  it("remove_from_physmap returns -ENOENT for a hole and for a grant mapping, leaving the mapping intact (get_page_from_gfn finds no page of the domain's)", () => {
    const { du, g0, gu } = setup();
    expect(rfp(g0, 0x31000)).toBe(-XEN_ERRNO.ENOENT);
    expect(rfp(gu, 5)).toBe(0);
    expect(rfp(gu, 5)).toBe(-XEN_ERRNO.ENOENT); // a RAM GFN made a hole
    const st = { dom: DOMID_SELF, nr_frames: 1, status: 0, frame_list: [0] };
    gu.hypercall.grant_table_op(GNTTABOP.GNTTABOP_setup_table, [st], 1);
    const table = gu.memory.writablePage(st.frame_list[0]!);
    table.setU16(8 * 8 + 2, 0);
    table.setU32(8 * 8 + 4, 3);
    table.setU16(8 * 8, GTF.GTF_permit_access);
    const map = {
      host_addr: 0x20000 * 4096,
      flags: GNTMAP.GNTMAP_host_map,
      ref: 8,
      dom: du.domid,
      status: -99,
      handle: 0,
      dev_bus_addr: 0,
    };
    g0.hypercall.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, [map], 1);
    expect(map.status).toBe(0);
    expect(rfp(g0, 0x20000)).toBe(-XEN_ERRNO.ENOENT);
    expect(g0.memory.page(0x20000).mfn).toBe(internal(du).physmap.frame(3)!.mfn);
    expect(internal(du).gnttab.pins(8)).toMatchObject({ hostWrite: 1 });
  });

  it("remove_from_physmap removes a RAM page without freeing it: a hole, XENMEM_current_reservation unchanged", () => {
    const { gu } = setup();
    const p = gu.memory.writablePage(9);
    p.setU8(0, 1);
    expect(cur(gu)).toBe(1);
    expect(rfp(gu, 9)).toBe(0);
    expect([gu.memory.isHole(9), p.alive, cur(gu)]).toEqual([true, false, 1]);
  });

  it("remove_from_physmap removes shared_info, leaving a hole", () => {
    const { du, gu } = setup();
    expect(gu.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, addShinfo(0x10000))).toBe(0);
    expect(rfp(gu, 0x10000)).toBe(0);
    expect([gu.memory.isHole(0x10000), du.sharedInfoGfn]).toEqual([true, undefined]);
  });

  it("remove_from_physmap returns -EFAULT for a gpfn that is no xen_pfn_t", () => {
    const { gu } = setup();
    expect(rfp(gu, -1)).toBe(-XEN_ERRNO.EFAULT);
    expect(rfp(gu, 2.5)).toBe(-XEN_ERRNO.EFAULT);
  });
});
