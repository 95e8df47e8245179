/**
 * Grant-table behaviour: aliasing, read-only mappings, dead views after unmap, GTF bits that
 * track pins exactly (XSA-230), reserved refs, add_to_physmap, and domain destruction.
 */
import { describe, expect, it } from "vitest";
import { DeadMappingError, ReadOnlyMappingError } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  GNTMAP,
  GNTST,
  GTF,
  XEN_ERRNO,
  XENMAPSPACE,
  XENMEM,
} from "@pvkit/hypervisor-sim/abi";
import {
  MAP_GFN,
  endAccess,
  flagsOf,
  grant,
  map,
  mapOp,
  rwBits,
  setupTable,
  unmap,
  world,
} from "./helpers.js";
import { internal } from "../internals.js";

const R = GTF.GTF_reading;
const W = GTF.GTF_writing;
const REF = 8;
const FRAME = 5;

describe("mappings", () => {
  it("aliases the granter's bytes both ways", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    const mine = hv.guest(a.domid).memory.writablePage(FRAME);
    mine.setU32(12, 0x11223344);
    map(hv, b.domid, a.domid, REF);
    const theirs = hv.guest(b.domid).memory.writablePage(MAP_GFN);
    expect(theirs.getU32(12)).toBe(0x11223344);
    theirs.setU16(100, 0xbeef);
    expect(mine.getU16(100)).toBe(0xbeef);
    expect(theirs.mfn).toBe(mine.mfn);
  });

  it("gives a read-only map a page with writable=false whose writes throw", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    hv.guest(a.domid).memory.writablePage(FRAME).setU8(0, 9);
    map(hv, b.domid, a.domid, REF, MAP_GFN, true);
    const p = hv.guest(b.domid).memory.page(MAP_GFN);
    expect(p.writable).toBe(false);
    expect(p.getU8(0)).toBe(9);
    expect(() => (p as { setU8?: (o: number, v: number) => void }).setU8!(0, 1)).toThrow(
      ReadOnlyMappingError,
    );
    expect(() => hv.guest(b.domid).memory.writablePage(MAP_GFN)).toThrow(RangeError);
    expect(hv.guest(a.domid).memory.page(FRAME).getU8(0)).toBe(9);
  });

  it("kills the old page view on unmap and leaves a hole at the GFN", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    const h = map(hv, b.domid, a.domid, REF).handle!;
    const view = hv.guest(b.domid).memory.page(MAP_GFN);
    unmap(hv, b.domid, h);
    expect(view.alive).toBe(false);
    expect(() => view.getU8(0)).toThrow(DeadMappingError);
    expect(hv.guest(b.domid).memory.isHole(MAP_GFN)).toBe(true);
    expect(() => hv.guest(b.domid).memory.page(MAP_GFN)).toThrow(RangeError);
    // The granter's own page is untouched.
    expect(hv.guest(a.domid).memory.page(FRAME).alive).toBe(true);
  });

  it("pins the frame the entry named at the first pin, whatever the entry says later", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    hv.guest(a.domid).memory.writablePage(FRAME).setU8(0, 1);
    hv.guest(a.domid).memory.writablePage(6).setU8(0, 2);
    map(hv, b.domid, a.domid, REF, MAP_GFN, true);
    hv.guest(a.domid)
      .memory.writablePage(setupTable(hv, a.domid)[0]!)
      .setU32(REF * 8 + 4, 6);
    map(hv, b.domid, a.domid, REF, MAP_GFN + 1, true);
    map(hv, b.domid, a.domid, REF, MAP_GFN + 2); // the first writable pin re-checks flags, not the frame
    expect(
      hv
        .guest(b.domid)
        .memory.page(MAP_GFN + 1)
        .getU8(0),
    ).toBe(1);
    expect(
      hv
        .guest(b.domid)
        .memory.page(MAP_GFN + 2)
        .getU8(0),
    ).toBe(1);
  });

  it("hands out handles that are not reused at once (FIFO free list)", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    const h0 = map(hv, b.domid, a.domid, REF).handle!;
    unmap(hv, b.domid, h0);
    const h1 = map(hv, b.domid, a.domid, REF).handle!;
    expect([h0, h1]).toEqual([0, 1]);
  });

  it("maps reserved refs 0 and 1 like any other entry (console and xenstore rings)", () => {
    const { hv, dom0, a } = world();
    grant(hv, a.domid, 0, dom0.domid, 10);
    grant(hv, a.domid, 1, dom0.domid, 11);
    hv.guest(a.domid).memory.writablePage(11).setU32(0, 0x5757);
    expect(map(hv, dom0.domid, a.domid, 1, MAP_GFN).status).toBe(GNTST.GNTST_okay);
    expect(map(hv, dom0.domid, a.domid, 0, MAP_GFN + 1).status).toBe(GNTST.GNTST_okay);
    expect(hv.guest(dom0.domid).memory.page(MAP_GFN).getU32(0)).toBe(0x5757);
    expect(rwBits(hv, a.domid, 0)).toBe(R | W);
  });
});

describe("GTF_reading / GTF_writing follow the pins (XSA-230)", () => {
  it("keeps the bits equal to the pin counts through mixed read-only and writable maps", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    const check = (bits: number, hostRead: number, hostWrite: number) => {
      expect(rwBits(hv, a.domid, REF)).toBe(bits);
      expect(internal(a).gnttab.pins(REF)).toEqual({
        hostRead,
        hostWrite,
        devRead: 0,
        devWrite: 0,
      });
    };
    const ro1 = map(hv, b.domid, a.domid, REF, MAP_GFN, true).handle!;
    check(R, 1, 0);
    const rw1 = map(hv, b.domid, a.domid, REF, MAP_GFN + 1).handle!;
    check(R | W, 1, 1);
    const rw2 = map(hv, b.domid, a.domid, REF, MAP_GFN + 2).handle!;
    check(R | W, 1, 2);
    unmap(hv, b.domid, rw1, MAP_GFN + 1);
    check(R | W, 1, 1); // a writable pin remains: writing stays
    unmap(hv, b.domid, rw2, MAP_GFN + 2);
    check(R, 1, 0); // last writable pin gone: writing clears, reading stays
    expect(endAccess(hv, a.domid, REF)).toBe(false);
    unmap(hv, b.domid, ro1, MAP_GFN);
    check(0, 0, 0);
    expect(flagsOf(hv, a.domid, REF)).toBe(GTF.GTF_permit_access);
    expect(endAccess(hv, a.domid, REF)).toBe(true);
  });

  it("does not clear GTF_writing when a read-only mapping goes while a writable one stays", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    map(hv, b.domid, a.domid, REF, MAP_GFN);
    const ro = map(hv, b.domid, a.domid, REF, MAP_GFN + 1, true).handle!;
    unmap(hv, b.domid, ro, MAP_GFN + 1);
    expect(rwBits(hv, a.domid, REF)).toBe(R | W);
  });

  it("refuses device_map+host_map from a translated guest without touching the pins", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    map(hv, b.domid, a.domid, REF, MAP_GFN, true);
    const op = mapOp(hv, b.domid, {
      host_addr: (MAP_GFN + 1) * 4096,
      flags: GNTMAP.GNTMAP_host_map | GNTMAP.GNTMAP_device_map,
      ref: REF,
      dom: a.domid,
    });
    expect(op.status).toBe(GNTST.GNTST_general_error);
    expect(internal(a).gnttab.pins(REF)).toEqual({
      hostRead: 1,
      hostWrite: 0,
      devRead: 0,
      devWrite: 0,
    });
    expect(rwBits(hv, a.domid, REF)).toBe(R);
  });
});

describe("XENMEM_add_to_physmap(XENMAPSPACE_grant_table)", () => {
  const atp = (hv: ReturnType<typeof world>["hv"], domid: number, idx: number, gpfn: number) =>
    hv.guest(domid).hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
      domid: DOMID_SELF,
      space: XENMAPSPACE.XENMAPSPACE_grant_table,
      idx,
      gpfn,
    });

  it("places a grant-table frame where the guest asks, growing the table", () => {
    const { hv, a, b } = world();
    expect(atp(hv, a.domid, 2, 0x30002)).toBe(0);
    expect(internal(a).gnttab.nrFrames).toBe(3);
    const page = hv.guest(a.domid).memory.writablePage(0x30002);
    page.setU16(8 * 3 + 2, b.domid);
    page.setU32(8 * 3 + 4, FRAME);
    page.setU16(8 * 3, GTF.GTF_permit_access);
    expect(map(hv, b.domid, a.domid, 1024 + 3).status).toBe(GNTST.GNTST_okay);
  });

  it("returns -EINVAL for an index at or beyond max_grant_frames", () => {
    const { hv, a } = world({ a: { maxGrantFrames: 2 } });
    expect(atp(hv, a.domid, 2, 0x30000)).toBe(-XEN_ERRNO.EINVAL);
    expect(internal(a).gnttab.nrFrames).toBe(1);
    expect(atp(hv, a.domid, 1, 0x30000)).toBe(0);
  });

  it("moves a frame: the old GFN becomes a hole and its view dies", () => {
    const { hv, a } = world();
    const [gfn] = setupTable(hv, a.domid);
    const old = hv.guest(a.domid).memory.page(gfn!);
    expect(atp(hv, a.domid, 0, 0x30000)).toBe(0);
    expect(old.alive).toBe(false);
    expect(hv.guest(a.domid).memory.isHole(gfn!)).toBe(true);
    expect(setupTable(hv, a.domid)).toEqual([0x30000]);
  });

  it("returns -ENXIO over a grant mapping, leaving it mapped (guest_remove_page: get_page fails on the granter's page)", () => {
    const { hv, a, b } = world();
    grant(hv, b.domid, REF, a.domid, FRAME);
    map(hv, a.domid, b.domid, REF, 0x30000);
    expect(atp(hv, a.domid, 0, 0x30000)).toBe(-XEN_ERRNO.ENXIO);
    expect(rwBits(hv, b.domid, REF)).toBe(R | W);
    expect(hv.guest(a.domid).memory.page(0x30000).mfn).toBe(internal(b).physmap.frame(FRAME)!.mfn);
  });

  it("grows the table even when placing the frame then fails with -ENXIO (gnttab_map_frame runs first)", () => {
    const { hv, a, b } = world();
    grant(hv, b.domid, REF, a.domid, FRAME);
    map(hv, a.domid, b.domid, REF, 0x30000);
    expect(atp(hv, a.domid, 3, 0x30000)).toBe(-XEN_ERRNO.ENXIO);
    expect(internal(a).gnttab.nrFrames).toBe(4);
  });

  it("frees the RAM page it replaces: XENMEM_current_reservation drops by one (guest_remove_page)", () => {
    const { hv, a } = world();
    const ga = hv.guest(a.domid);
    ga.memory.writablePage(3).setU8(0, 1);
    ga.memory.writablePage(4).setU8(0, 1);
    const cur = () =>
      ga.hypercall.memory_op(XENMEM.XENMEM_current_reservation, { domid: DOMID_SELF });
    expect(cur()).toBe(2);
    expect(atp(hv, a.domid, 0, 3)).toBe(0);
    expect(cur()).toBe(1);
  });
});

describe("domain destruction", () => {
  it("keeps the mapper's mapping valid after the granter is destroyed, and the granter dying until unmap", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    hv.guest(a.domid).memory.writablePage(FRAME).setU32(0, 0xabcdef);
    const h = map(hv, b.domid, a.domid, REF).handle!;
    expect(internal(a).gnttab.mappedByOthers).toBe(1);
    hv.destroyDomain(a.domid);
    expect(a.state).toBe("dying");
    expect(hv.domainById(a.domid)).toBe(a);
    const view = hv.guest(b.domid).memory.writablePage(MAP_GFN);
    expect(view.getU32(0)).toBe(0xabcdef);
    view.setU32(4, 7);
    expect(view.getU32(4)).toBe(7);
    expect(unmap(hv, b.domid, h).status).toBe(GNTST.GNTST_okay);
    expect(a.state).toBe("dead");
    expect(hv.domainById(a.domid)).toBeUndefined();
    expect(view.alive).toBe(false);
  });

  it("stays dying while any of several mappings remains", () => {
    const { hv, dom0, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    grant(hv, a.domid, 9, dom0.domid, 6);
    const hb = map(hv, b.domid, a.domid, REF).handle!;
    const h0 = map(hv, dom0.domid, a.domid, 9).handle!;
    hv.destroyDomain(a.domid);
    unmap(hv, b.domid, hb);
    expect(a.state).toBe("dying");
    unmap(hv, dom0.domid, h0);
    expect(a.state).toBe("dead");
  });

  it("finalises a granter at once when nobody maps its grants", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    hv.destroyDomain(a.domid);
    expect(a.state).toBe("dead");
  });

  it("releases the mapper's mappings on its destruction and clears the granter's GTF bits", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    grant(hv, a.domid, 9, b.domid, 6, GTF.GTF_permit_access | GTF.GTF_readonly);
    map(hv, b.domid, a.domid, REF, MAP_GFN);
    map(hv, b.domid, a.domid, REF, MAP_GFN + 1, true);
    map(hv, b.domid, a.domid, 9, MAP_GFN + 2, true);
    const view = hv.guest(b.domid).memory.page(MAP_GFN);
    expect(internal(a).gnttab.mappedByOthers).toBe(3);
    hv.destroyDomain(b.domid);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
    expect(rwBits(hv, a.domid, 9)).toBe(0);
    expect(internal(a).gnttab.isPinned(REF)).toBe(false);
    expect(internal(a).gnttab.mappedByOthers).toBe(0);
    expect(view.alive).toBe(false);
    expect(b.state).toBe("dead");
    expect(endAccess(hv, a.domid, REF)).toBe(true);
  });

  it("finalises a dying granter when the mapper holding its last mapping is destroyed", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, FRAME);
    map(hv, b.domid, a.domid, REF);
    hv.destroyDomain(a.domid);
    expect(a.state).toBe("dying");
    hv.destroyDomain(b.domid);
    expect(a.state).toBe("dead");
    expect(b.state).toBe("dead");
  });
});
