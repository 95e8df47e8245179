/**
 * GNTTABOP_map_grant_ref / unmap_grant_ref / unmap_and_replace: every precondition of
 * `map_grant_ref` / `unmap_common` in Xen 4.17's order, one test per check, plus order tests
 * where two fail.
 */
import { describe, expect, it } from "vitest";
import { DeadMappingError } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  GNTMAP,
  GNTST,
  GNTTABOP,
  GTF,
  XENMAPSPACE,
  XENMEM,
} from "@pvkit/hypervisor-sim/abi";
import {
  MAP_GFN,
  flagsOf,
  grant,
  map,
  mapForeign,
  mapOp,
  rwBits,
  setFlags,
  setupTable,
  unmap,
  world,
} from "./helpers.js";
import { internal } from "../internals.js";

const {
  GNTMAP_host_map,
  GNTMAP_device_map,
  GNTMAP_readonly,
  GNTMAP_application_map,
  GNTMAP_contains_pte,
} = GNTMAP;
const RW = GTF.GTF_reading | GTF.GTF_writing;
const REF = 8;
const FRAME = 5;

/** a grants ref 8 (its GFN 5) to b. */
function granted(flags: number = GTF.GTF_permit_access) {
  const w = world();
  grant(w.hv, w.a.domid, REF, w.b.domid, FRAME, flags);
  return w;
}

describe("map_grant_ref preconditions", () => {
  it("map: returns GNTST_bad_gntref when neither host_map nor device_map is set", () => {
    const { hv, a, b } = granted();
    expect(
      mapOp(hv, b.domid, {
        host_addr: MAP_GFN * 4096,
        flags: GNTMAP_readonly,
        ref: REF,
        dom: a.domid,
      }).status,
    ).toBe(GNTST.GNTST_bad_gntref);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("map: the missing-flags check comes before the domain lookup (bad_gntref, not bad_domain)", () => {
    const { hv, b } = granted();
    expect(
      mapOp(hv, b.domid, { host_addr: MAP_GFN * 4096, flags: 0, ref: REF, dom: DOMID_SELF }).status,
    ).toBe(GNTST.GNTST_bad_gntref);
  });

  it.each([
    ["device_map", GNTMAP_device_map],
    ["device_map|host_map", GNTMAP_device_map | GNTMAP_host_map],
    ["application_map", GNTMAP_host_map | GNTMAP_application_map],
    ["contains_pte", GNTMAP_host_map | GNTMAP_contains_pte],
  ])("map: returns GNTST_general_error for a translated caller asking for %s", (_name, flags) => {
    const { hv, a, b } = granted();
    const op = mapOp(hv, b.domid, { host_addr: MAP_GFN * 4096, flags, ref: REF, dom: a.domid });
    expect(op.status).toBe(GNTST.GNTST_general_error);
    expect(op.handle).toBeUndefined();
    expect(rwBits(hv, a.domid, REF)).toBe(0);
    expect(internal(a).gnttab.pins(REF)).toEqual({
      hostRead: 0,
      hostWrite: 0,
      devRead: 0,
      devWrite: 0,
    });
    expect(hv.guest(b.domid).memory.isHole(MAP_GFN)).toBe(true);
  });

  it("map: the translated-caller check comes before the domain lookup (general_error, not bad_domain)", () => {
    const { hv, b } = granted();
    expect(
      mapOp(hv, b.domid, { host_addr: 0, flags: GNTMAP_device_map, ref: REF, dom: 0x1234 }).status,
    ).toBe(GNTST.GNTST_general_error);
  });

  it("map: returns GNTST_bad_domain for an unknown domain", () => {
    const { hv, b } = granted();
    expect(
      mapOp(hv, b.domid, {
        host_addr: MAP_GFN * 4096,
        flags: GNTMAP_host_map,
        ref: REF,
        dom: 0x1234,
      }).status,
    ).toBe(GNTST.GNTST_bad_domain);
  });

  it("map: returns GNTST_bad_domain for DOMID_SELF (a by-id lookup)", () => {
    const { hv, a } = granted();
    grant(hv, a.domid, 9, a.domid, FRAME);
    expect(
      mapOp(hv, a.domid, {
        host_addr: MAP_GFN * 4096,
        flags: GNTMAP_host_map,
        ref: 9,
        dom: DOMID_SELF,
      }).status,
    ).toBe(GNTST.GNTST_bad_domain);
    // The same grant named by the numeric domid maps fine.
    expect(map(hv, a.domid, a.domid, 9).status).toBe(GNTST.GNTST_okay);
  });

  it("map: the domain lookup comes before the ref check (bad_domain, not bad_gntref)", () => {
    const { hv, b } = granted();
    expect(
      mapOp(hv, b.domid, { host_addr: 0, flags: GNTMAP_host_map, ref: 0xffffffff, dom: 0x1234 })
        .status,
    ).toBe(GNTST.GNTST_bad_domain);
  });

  it("map: never returns permission_denied between domUs (XSM_HOOK under the dummy policy)", () => {
    const { hv, a, b } = granted();
    expect(map(hv, b.domid, a.domid, REF).status).toBe(GNTST.GNTST_okay);
  });

  it("map: returns GNTST_no_space once every maptrack handle is in use", () => {
    const { hv, a, b } = world({ b: { maxMaptrackFrames: 1 } });
    for (let i = 0; i < 257; i++) grant(hv, a.domid, 8 + i, b.domid, 10 + i);
    for (let i = 0; i < 256; i++)
      expect(map(hv, b.domid, a.domid, 8 + i, MAP_GFN + i).status).toBe(GNTST.GNTST_okay);
    expect(map(hv, b.domid, a.domid, 8 + 256, MAP_GFN + 256).status).toBe(GNTST.GNTST_no_space);
    expect(rwBits(hv, a.domid, 8 + 256)).toBe(0);
  });

  it("map: the maptrack check comes before the ref check (no_space, not bad_gntref)", () => {
    const { hv, a, b } = world({ b: { maxMaptrackFrames: 1 } });
    for (let i = 0; i < 256; i++) grant(hv, a.domid, 8 + i, b.domid, 10 + i);
    for (let i = 0; i < 256; i++) map(hv, b.domid, a.domid, 8 + i, MAP_GFN + i);
    expect(map(hv, b.domid, a.domid, 99_999, MAP_GFN + 300).status).toBe(GNTST.GNTST_no_space);
  });

  it("map: returns GNTST_bad_gntref for a ref at or beyond nr_entries", () => {
    const { hv, a, b } = granted();
    expect(internal(a).gnttab.nrEntries).toBe(512);
    expect(map(hv, b.domid, a.domid, 512).status).toBe(GNTST.GNTST_bad_gntref);
    expect(map(hv, b.domid, a.domid, 0xffffffff).status).toBe(GNTST.GNTST_bad_gntref);
  });

  it("map: a ref becomes valid once the granter's table grows", () => {
    const { hv, a, b } = granted();
    grant(hv, a.domid, 600, b.domid, FRAME); // the helper's setup_table grows a's table to 2 frames
    expect(map(hv, b.domid, a.domid, 600).status).toBe(GNTST.GNTST_okay);
  });

  it("map: returns GNTST_general_error when the ref is already pinned by a different domain", () => {
    const { hv, dom0, a, b } = granted();
    expect(map(hv, b.domid, a.domid, REF, MAP_GFN, true).status).toBe(GNTST.GNTST_okay);
    // The granter (wrongly) re-targets the live entry at dom0; the active entry still names b.
    const { page, off } = {
      page: hv.guest(a.domid).memory.writablePage(internal(a).gnttab.frameGfn(0)!),
      off: REF * 8,
    };
    page.setU16(off + 2, dom0.domid);
    expect(map(hv, dom0.domid, a.domid, REF, MAP_GFN, true).status).toBe(GNTST.GNTST_general_error);
    expect(internal(a).gnttab.pins(REF).hostRead).toBe(1);
  });

  it("map: returns GNTST_general_error when the pin counter would pass 127 (4.17 overflow mask)", () => {
    const { hv, a, b } = granted();
    for (let i = 0; i < 128; i++)
      expect(map(hv, b.domid, a.domid, REF, MAP_GFN + i, true).status).toBe(GNTST.GNTST_okay);
    expect(map(hv, b.domid, a.domid, REF, MAP_GFN + 128, true).status).toBe(
      GNTST.GNTST_general_error,
    );
    expect(internal(a).gnttab.pins(REF).hostRead).toBe(128);
    // Only the counter being bumped matters: a writable pin still fits.
    expect(map(hv, b.domid, a.domid, REF, MAP_GFN + 129).status).toBe(GNTST.GNTST_okay);
    expect(rwBits(hv, a.domid, REF)).toBe(RW);
  });

  it("map: returns GNTST_general_error for an entry with GTF_sub_page set", () => {
    const { hv, a, b } = granted(GTF.GTF_permit_access | GTF.GTF_sub_page);
    expect(map(hv, b.domid, a.domid, REF).status).toBe(GNTST.GNTST_general_error);
    expect(flagsOf(hv, a.domid, REF)).toBe(GTF.GTF_permit_access | GTF.GTF_sub_page);
  });

  it.each([
    ["GTF_invalid", GTF.GTF_invalid],
    ["GTF_accept_transfer", GTF.GTF_accept_transfer],
    ["GTF_transitive", GTF.GTF_transitive],
  ])("map: returns GNTST_general_error for an entry of type %s", (_n, type) => {
    const { hv, a, b } = granted(type);
    expect(map(hv, b.domid, a.domid, REF).status).toBe(GNTST.GNTST_general_error);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("map: returns GNTST_general_error when the entry names another grantee", () => {
    const { hv, dom0, a } = granted();
    expect(map(hv, dom0.domid, a.domid, REF).status).toBe(GNTST.GNTST_general_error);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("map: returns GNTST_general_error for a writable map of a GTF_readonly entry", () => {
    const { hv, a, b } = granted(GTF.GTF_permit_access | GTF.GTF_readonly);
    expect(map(hv, b.domid, a.domid, REF).status).toBe(GNTST.GNTST_general_error);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
    expect(map(hv, b.domid, a.domid, REF, MAP_GFN, true).status).toBe(GNTST.GNTST_okay);
    expect(rwBits(hv, a.domid, REF)).toBe(GTF.GTF_reading);
  });

  it("map: refuses the first writable pin of a GTF_readonly entry already pinned read-only", () => {
    const { hv, a, b } = granted(GTF.GTF_permit_access | GTF.GTF_readonly);
    map(hv, b.domid, a.domid, REF, MAP_GFN, true);
    expect(map(hv, b.domid, a.domid, REF, MAP_GFN + 1).status).toBe(GNTST.GNTST_general_error);
    expect(rwBits(hv, a.domid, REF)).toBe(GTF.GTF_reading);
    expect(internal(a).gnttab.pins(REF)).toMatchObject({ hostRead: 1, hostWrite: 0 });
  });

  it("map: the entry check comes before the frame lookup (general_error, not bad_page)", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, 0x30000, GTF.GTF_accept_transfer);
    expect(map(hv, b.domid, a.domid, REF).status).toBe(GNTST.GNTST_general_error);
  });

  it("map: returns GNTST_bad_page when the granted GFN is a hole, and clears the bits it set", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, 0x30000);
    expect(map(hv, b.domid, a.domid, REF).status).toBe(GNTST.GNTST_bad_page);
    expect(flagsOf(hv, a.domid, REF)).toBe(GTF.GTF_permit_access);
    expect(internal(a).gnttab.isPinned(REF)).toBe(false);
  });

  it("map: returns GNTST_bad_page when the granted GFN is itself a foreign mapping", () => {
    const { hv, dom0, a, b } = world();
    grant(hv, dom0.domid, REF, a.domid, FRAME);
    expect(map(hv, a.domid, dom0.domid, REF, 0x21000).status).toBe(GNTST.GNTST_okay);
    grant(hv, a.domid, REF, b.domid, 0x21000); // re-granting a page a only maps
    expect(map(hv, b.domid, a.domid, REF).status).toBe(GNTST.GNTST_bad_page);
  });

  it("map: returns GNTST_bad_page when the granted GFN holds a gmfn_foreign mapping (get_paged_frame: p2m_is_foreign)", () => {
    const { hv, dom0, a, b } = world();
    mapForeign(hv, dom0.domid, a.domid, FRAME, 0x30000);
    grant(hv, dom0.domid, REF, b.domid, 0x30000); // dom0 grants a page it only maps from a
    expect(map(hv, b.domid, dom0.domid, REF).status).toBe(GNTST.GNTST_bad_page);
    expect(flagsOf(hv, dom0.domid, REF)).toBe(GTF.GTF_permit_access);
    expect(internal(dom0).gnttab.isPinned(REF)).toBe(false);
    expect(hv.guest(b.domid).memory.isHole(MAP_GFN)).toBe(true);
  });

  it("map: the frame lookup comes before the host mapping (bad_page, not general_error)", () => {
    const { hv, a, b } = granted();
    grant(hv, a.domid, 9, b.domid, 0x30000);
    expect(map(hv, b.domid, a.domid, REF, MAP_GFN).status).toBe(GNTST.GNTST_okay); // mapping over it would fail
    expect(map(hv, b.domid, a.domid, 9, MAP_GFN).status).toBe(GNTST.GNTST_bad_page);
  });

  it("map: returns GNTST_general_error over an existing grant mapping, undoing the pin (p2m_add_page refuses special entries)", () => {
    const { hv, a, b } = granted();
    grant(hv, a.domid, 9, b.domid, 6);
    expect(map(hv, b.domid, a.domid, 9, MAP_GFN).status).toBe(GNTST.GNTST_okay);
    expect(map(hv, b.domid, a.domid, REF, MAP_GFN).status).toBe(GNTST.GNTST_general_error);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
    expect(internal(a).gnttab.isPinned(REF)).toBe(false);
    expect(b.shutdownCode).toBeUndefined(); // Xen would also crash b (see the README)
  });

  it("map: returns GNTST_general_error when flags carry guest_avail bits a p2m entry cannot express", () => {
    const { hv, a, b } = granted();
    const op = mapOp(hv, b.domid, {
      host_addr: MAP_GFN * 4096,
      flags: GNTMAP_host_map | 0x10000,
      ref: REF,
      dom: a.domid,
    });
    expect(op.status).toBe(GNTST.GNTST_general_error);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("map: a RAM GFN as host_addr is accepted (the mapping replaces the RAM page)", () => {
    const { hv, a, b } = granted();
    hv.guest(a.domid).memory.writablePage(FRAME).setU8(7, 0x42);
    expect(map(hv, b.domid, a.domid, REF, 3).status).toBe(GNTST.GNTST_okay);
    expect(hv.guest(b.domid).memory.page(3).getU8(7)).toBe(0x42);
  });

  it("map: on success writes status okay, a handle and dev_bus_addr = MFN << 12", () => {
    const { hv, a, b } = granted();
    const op = map(hv, b.domid, a.domid, REF);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(op.handle).toBe(0);
    expect(op.dev_bus_addr).toBe(hv.guest(a.domid).memory.page(FRAME).mfn * 4096);
    expect(flagsOf(hv, a.domid, REF)).toBe(GTF.GTF_permit_access | RW);
  });

  it("map: a failed element leaves handle and dev_bus_addr untouched", () => {
    const { hv, a, b } = granted();
    const op = mapOp(hv, b.domid, {
      host_addr: 0,
      flags: GNTMAP_host_map,
      ref: 512,
      dom: a.domid,
      handle: 77,
      dev_bus_addr: 5,
    });
    expect(op).toMatchObject({ status: GNTST.GNTST_bad_gntref, handle: 77, dev_bus_addr: 5 });
  });

  it("map: processes every element of a batch, each with its own status", () => {
    const { hv, a, b } = granted();
    const ops = [
      { host_addr: MAP_GFN * 4096, flags: GNTMAP_host_map, ref: REF, dom: a.domid },
      { host_addr: (MAP_GFN + 1) * 4096, flags: GNTMAP_host_map, ref: 9999, dom: a.domid },
      {
        host_addr: (MAP_GFN + 2) * 4096,
        flags: GNTMAP_host_map | GNTMAP_readonly,
        ref: REF,
        dom: a.domid,
      },
    ];
    expect(
      hv.guest(b.domid).hypercall.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, ops, 3),
    ).toBe(0);
    expect(ops.map((o) => (o as { status?: number }).status)).toEqual([
      0,
      GNTST.GNTST_bad_gntref,
      0,
    ]);
    expect(internal(a).gnttab.pins(REF)).toMatchObject({ hostRead: 1, hostWrite: 1 });
  });
});

describe("host mappings change the physmap as p2m_add_page / p2m_remove_page do", () => {
  it("leaves a hole after mapping over populated RAM and unmapping: the old page does not come back", () => {
    const { hv, a, b } = granted();
    const gb = hv.guest(b.domid);
    const ram = gb.memory.writablePage(3);
    ram.setU8(0, 0x5a);
    const op = map(hv, b.domid, a.domid, REF, 3);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(() => ram.getU8(0)).toThrow(DeadMappingError); // the RAM page left the physmap
    expect(gb.memory.page(3).mfn).toBe(hv.guest(a.domid).memory.page(FRAME).mfn);
    expect(unmap(hv, b.domid, op.handle!, 3).status).toBe(GNTST.GNTST_okay);
    expect(gb.memory.isHole(3)).toBe(true);
    expect(() => gb.memory.page(3)).toThrow(RangeError);
    expect(gb.memory.isHole(4)).toBe(false); // its neighbour is still RAM
  });

  it("keeps a RAM page replaced by a grant mapping allocated: XENMEM_current_reservation does not drop (p2m_add_page frees nothing)", () => {
    const { hv, a, b } = granted();
    const gb = hv.guest(b.domid);
    const cur = () =>
      gb.hypercall.memory_op(XENMEM.XENMEM_current_reservation, { domid: DOMID_SELF });
    gb.memory.writablePage(3).setU8(0, 0x5a);
    const before = cur();
    const op = map(hv, b.domid, a.domid, REF, 3);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(cur()).toBe(before);
    expect(unmap(hv, b.domid, op.handle!, 3).status).toBe(GNTST.GNTST_okay);
    expect(cur()).toBe(before);
  });

  it("moves a page the domain maps from its own grant: the old GFN becomes a hole, the mapping is the same frame", () => {
    const { hv, a } = world();
    const ga = hv.guest(a.domid);
    const page = ga.memory.writablePage(FRAME);
    page.setU32(0, 0xc0ffee);
    const mfn = page.mfn;
    grant(hv, a.domid, REF, a.domid, FRAME);
    const op = map(hv, a.domid, a.domid, REF, MAP_GFN);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(ga.memory.isHole(FRAME)).toBe(true);
    expect(() => page.getU32(0)).toThrow(DeadMappingError);
    const mapped = ga.memory.page(MAP_GFN);
    expect([mapped.mfn, mapped.getU32(0)]).toEqual([mfn, 0xc0ffee]);
    expect(unmap(hv, a.domid, op.handle!, MAP_GFN).status).toBe(GNTST.GNTST_okay);
    expect([ga.memory.isHole(MAP_GFN), ga.memory.isHole(FRAME)]).toEqual([true, true]);
    // The grant now names a hole: the next map finds no page there.
    expect(map(hv, a.domid, a.domid, REF, MAP_GFN).status).toBe(GNTST.GNTST_bad_page);
  });

  it("maps over the domain's own shared_info GFN: shared_info leaves the physmap", () => {
    const { hv, a, b } = granted();
    const gb = hv.guest(b.domid);
    expect(
      gb.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
        domid: DOMID_SELF,
        space: XENMAPSPACE.XENMAPSPACE_shared_info,
        idx: 0,
        gpfn: 0x30000,
      }),
    ).toBe(0);
    const sh = gb.memory.page(0x30000);
    const op = map(hv, b.domid, a.domid, REF, 0x30000);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(b.sharedInfoGfn).toBeUndefined();
    expect(() => sh.getU8(0)).toThrow(DeadMappingError);
    expect(gb.memory.page(0x30000).mfn).toBe(hv.guest(a.domid).memory.page(FRAME).mfn);
    expect(unmap(hv, b.domid, op.handle!, 0x30000).status).toBe(GNTST.GNTST_okay);
    expect(gb.memory.isHole(0x30000)).toBe(true);
    // shared_info can be placed again, anywhere.
    expect(
      gb.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
        domid: DOMID_SELF,
        space: XENMAPSPACE.XENMAPSPACE_shared_info,
        idx: 0,
        gpfn: 0x30001,
      }),
    ).toBe(0);
    expect(b.sharedInfoGfn).toBe(0x30001);
  });

  it("maps over the domain's own grant-table frame, which leaves the physmap", () => {
    const { hv, a, b } = granted();
    const [gfn] = setupTable(hv, b.domid);
    const op = map(hv, b.domid, a.domid, REF, gfn!);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(hv.guest(b.domid).memory.page(gfn!).mfn).toBe(hv.guest(a.domid).memory.page(FRAME).mfn);
    expect(internal(b).gnttab.frameGfn(0)).toBeUndefined();
  });
});

describe("unmap_grant_ref preconditions", () => {
  it("unmap: returns GNTST_bad_handle for a handle beyond the maptrack limit", () => {
    const { hv, a, b } = granted();
    expect(unmap(hv, b.domid, 0).status).toBe(GNTST.GNTST_bad_handle); // no maptrack frame yet
    map(hv, b.domid, a.domid, REF);
    expect(unmap(hv, b.domid, 256).status).toBe(GNTST.GNTST_bad_handle);
    expect(unmap(hv, b.domid, 0xffffffff).status).toBe(GNTST.GNTST_bad_handle);
  });

  it("unmap: returns GNTST_bad_handle for an unused handle inside the limit", () => {
    const { hv, a, b } = granted();
    map(hv, b.domid, a.domid, REF);
    expect(unmap(hv, b.domid, 5).status).toBe(GNTST.GNTST_bad_handle);
  });

  it("unmap: returns GNTST_bad_handle for a handle already unmapped", () => {
    const { hv, a, b } = granted();
    const h = map(hv, b.domid, a.domid, REF).handle!;
    expect(unmap(hv, b.domid, h).status).toBe(GNTST.GNTST_okay);
    expect(unmap(hv, b.domid, h).status).toBe(GNTST.GNTST_bad_handle);
  });

  it("unmap: a handle is another domain's business (b's handle means nothing to dom0)", () => {
    const { hv, dom0, a, b } = granted();
    const h = map(hv, b.domid, a.domid, REF).handle!;
    expect(unmap(hv, dom0.domid, h).status).toBe(GNTST.GNTST_bad_handle);
    expect(rwBits(hv, a.domid, REF)).toBe(RW);
  });

  it("unmap: ignores a wrong dev_bus_addr on a host-only mapping (bad_dev_addr needs a device half)", () => {
    const { hv, a, b } = granted();
    const m = map(hv, b.domid, a.domid, REF);
    expect(unmap(hv, b.domid, m.handle!, MAP_GFN, m.dev_bus_addr! + 4096).status).toBe(
      GNTST.GNTST_okay,
    );
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("unmap: returns GNTST_general_error when host_addr does not name the mapping, which stays", () => {
    const { hv, a, b } = granted();
    const h = map(hv, b.domid, a.domid, REF).handle!;
    expect(unmap(hv, b.domid, h, MAP_GFN + 1).status).toBe(GNTST.GNTST_general_error);
    expect(unmap(hv, b.domid, h, 3).status).toBe(GNTST.GNTST_general_error); // RAM there
    expect(rwBits(hv, a.domid, REF)).toBe(RW);
    expect(hv.guest(b.domid).memory.page(MAP_GFN).alive).toBe(true);
    expect(unmap(hv, b.domid, h).status).toBe(GNTST.GNTST_okay);
  });

  it("unmap: the handle check comes before the address check (bad_handle, not general_error)", () => {
    const { hv, a, b } = granted();
    map(hv, b.domid, a.domid, REF);
    expect(unmap(hv, b.domid, 7, MAP_GFN + 1).status).toBe(GNTST.GNTST_bad_handle);
  });

  it("unmap: a zero host_addr skips the host half: okay, nothing released, the handle stays live", () => {
    const { hv, a, b } = granted();
    const h = map(hv, b.domid, a.domid, REF).handle!;
    const op = { host_addr: 0, dev_bus_addr: 0, handle: h, status: 99 };
    expect(
      hv.guest(b.domid).hypercall.grant_table_op(GNTTABOP.GNTTABOP_unmap_grant_ref, [op], 1),
    ).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(rwBits(hv, a.domid, REF)).toBe(RW);
    expect(unmap(hv, b.domid, h).status).toBe(GNTST.GNTST_okay);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("unmap_and_replace: returns GNTST_general_error for a non-zero new_addr (translated guests cannot replace)", () => {
    const { hv, a, b } = granted();
    const h = map(hv, b.domid, a.domid, REF).handle!;
    const op = { host_addr: MAP_GFN * 4096, new_addr: (MAP_GFN + 1) * 4096, handle: h };
    expect(
      hv.guest(b.domid).hypercall.grant_table_op(GNTTABOP.GNTTABOP_unmap_and_replace, [op], 1),
    ).toBe(0);
    expect((op as { status?: number }).status).toBe(GNTST.GNTST_general_error);
    expect(rwBits(hv, a.domid, REF)).toBe(RW);
  });

  it("unmap_and_replace: with new_addr 0 unmaps the host mapping", () => {
    const { hv, a, b } = granted();
    const h = map(hv, b.domid, a.domid, REF).handle!;
    const op = { host_addr: MAP_GFN * 4096, new_addr: 0, handle: h };
    expect(
      hv.guest(b.domid).hypercall.grant_table_op(GNTTABOP.GNTTABOP_unmap_and_replace, [op], 1),
    ).toBe(0);
    expect((op as { status?: number }).status).toBe(GNTST.GNTST_okay);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
    expect(hv.guest(b.domid).memory.isHole(MAP_GFN)).toBe(true);
  });

  it("unmap: returns bad_handle for the second of two unmaps of one handle in a batch", () => {
    const { hv, a, b } = granted();
    const h = map(hv, b.domid, a.domid, REF).handle!;
    const ops = [0, 1].map(() => ({ host_addr: MAP_GFN * 4096, dev_bus_addr: 0, handle: h }));
    expect(
      hv.guest(b.domid).hypercall.grant_table_op(GNTTABOP.GNTTABOP_unmap_grant_ref, ops, 2),
    ).toBe(0);
    expect(ops.map((o) => (o as { status?: number }).status)).toEqual([
      GNTST.GNTST_okay,
      GNTST.GNTST_bad_handle,
    ]);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("unmap: a revoked-then-regranted entry is not disturbed by a stale handle", () => {
    const { hv, a, b } = granted();
    const h = map(hv, b.domid, a.domid, REF).handle!;
    unmap(hv, b.domid, h);
    setFlags(hv, a.domid, REF, 0);
    grant(hv, a.domid, REF, b.domid, FRAME);
    const h2 = map(hv, b.domid, a.domid, REF, MAP_GFN + 1).handle!;
    expect(h2).not.toBe(h); // FIFO handle reuse
    expect(unmap(hv, b.domid, h).status).toBe(GNTST.GNTST_bad_handle);
    expect(rwBits(hv, a.domid, REF)).toBe(RW);
  });
});
