/**
 * GNTTABOP_copy: every precondition of `gnttab_copy` in Xen 4.17's order (domains, then the
 * source and dest claims, then bounds), plus the copy itself and its transient pins.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DOMID_SELF,
  GNTCOPY,
  GNTST,
  GNTTABOP,
  GTF,
  type gnttab_copy,
} from "@pvkit/hypervisor-sim/abi";
import { MAP_GFN, copy, flagsOf, grant, map, mapForeign, rwBits, world } from "./helpers.js";
import { internal } from "../internals.js";

const { GNTCOPY_source_gref: SRC_GREF, GNTCOPY_dest_gref: DST_GREF } = GNTCOPY;
const REF = 8;
const FRAME = 5;
const LOCAL = 9; // a RAM GFN of the copying domain

/** a grants ref 8 (GFN 5, filled with a pattern) to b. */
function granted(flags: number = GTF.GTF_permit_access) {
  const w = world();
  grant(w.hv, w.a.domid, REF, w.b.domid, FRAME, flags);
  const p = w.hv.guest(w.a.domid).memory.writablePage(FRAME);
  for (let i = 0; i < 4096; i += 4) p.setU32(i, (i * 2654435761) >>> 0);
  return w;
}

/** b copies `len` bytes from a's grant into its own GFN LOCAL. */
function fromGrant(
  granter: number,
  ref: number,
  o: Partial<{ srcOff: number; dstOff: number; len: number; dstDom: number; srcDom: number }> = {},
): gnttab_copy {
  return {
    source: { u: { ref }, domid: o.srcDom ?? granter, offset: o.srcOff ?? 0 },
    dest: { u: { gmfn: LOCAL }, domid: o.dstDom ?? DOMID_SELF, offset: o.dstOff ?? 0 },
    len: o.len ?? 16,
    flags: SRC_GREF,
  };
}

/** b copies from its own GFN LOCAL into a's grant. */
function toGrant(granter: number, ref: number, len = 16): gnttab_copy {
  return {
    source: { u: { gmfn: LOCAL }, domid: DOMID_SELF, offset: 0 },
    dest: { u: { ref }, domid: granter, offset: 0 },
    len,
    flags: DST_GREF,
  };
}

describe("copy preconditions", () => {
  it("copy: returns GNTST_permission_denied for a raw source frame of any domain but DOMID_SELF", () => {
    const { hv, a, b } = granted();
    const op = fromGrant(a.domid, REF);
    op.source = { u: { gmfn: FRAME }, domid: a.domid, offset: 0 };
    op.flags = 0;
    expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_permission_denied);
  });

  it("copy: returns GNTST_permission_denied for a raw frame named by the caller's own numeric domid", () => {
    const { hv, a, b } = granted();
    expect(copy(hv, b.domid, fromGrant(a.domid, REF, { dstDom: b.domid })).status).toBe(
      GNTST.GNTST_permission_denied,
    );
  });

  it("copy: returns GNTST_permission_denied for a raw dest frame of another domain", () => {
    const { hv, a, b } = granted();
    expect(copy(hv, b.domid, fromGrant(a.domid, REF, { dstDom: a.domid })).status).toBe(
      GNTST.GNTST_permission_denied,
    );
  });

  it("copy: returns GNTST_bad_domain for an unknown source domain", () => {
    const { hv, b } = granted();
    expect(copy(hv, b.domid, fromGrant(0x1234, REF)).status).toBe(GNTST.GNTST_bad_domain);
  });

  it("copy: returns GNTST_bad_domain for an unknown dest domain", () => {
    const { hv, b } = granted();
    expect(copy(hv, b.domid, toGrant(0x1234, REF)).status).toBe(GNTST.GNTST_bad_domain);
  });

  it("copy: the source domain is checked before the dest domain", () => {
    const { hv, b } = granted();
    const op = fromGrant(0x1234, REF, { dstDom: 0x4321 }); // source bad_domain, dest raw non-SELF
    expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_bad_domain);
    const op2 = toGrant(0x1234, REF);
    op2.source.domid = 0x4321; // raw source of another domain: permission_denied comes first
    expect(copy(hv, b.domid, op2).status).toBe(GNTST.GNTST_permission_denied);
  });

  it("copy: returns GNTST_bad_gntref for a source ref out of range", () => {
    const { hv, a, b } = granted();
    expect(copy(hv, b.domid, fromGrant(a.domid, 512)).status).toBe(GNTST.GNTST_bad_gntref);
  });

  it("copy: returns GNTST_bad_gntref for a dest ref out of range", () => {
    const { hv, a, b } = granted();
    expect(copy(hv, b.domid, toGrant(a.domid, 512)).status).toBe(GNTST.GNTST_bad_gntref);
  });

  it("copy: the domain checks come before the ref checks (bad_domain, not bad_gntref)", () => {
    const { hv, a, b } = granted();
    const op = fromGrant(a.domid, 512);
    op.dest = { u: { ref: REF }, domid: 0x1234, offset: 0 };
    op.flags = SRC_GREF | DST_GREF;
    expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_bad_domain);
  });

  it("copy: the source is claimed before the dest (source bad_gntref wins over dest bad_gntref)", () => {
    const { hv, a, b } = granted();
    grant(hv, a.domid, 9, b.domid, 6, GTF.GTF_permit_access | GTF.GTF_readonly);
    const op: gnttab_copy = {
      source: { u: { ref: REF }, domid: a.domid, offset: 0 },
      dest: { u: { ref: 9 }, domid: a.domid, offset: 0 },
      len: 8,
      flags: SRC_GREF | DST_GREF,
    };
    expect(copy(hv, b.domid, { ...op, source: { ...op.source, u: { ref: 700 } } }).status).toBe(
      GNTST.GNTST_bad_gntref,
    );
    // A good source with a read-only dest fails on the dest, and the source pin is released.
    expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_general_error);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
    expect(rwBits(hv, a.domid, 9)).toBe(0);
  });

  it("copy: returns GNTST_general_error when the entry names another grantee", () => {
    const { hv, dom0, a } = granted();
    expect(copy(hv, dom0.domid, fromGrant(a.domid, REF)).status).toBe(GNTST.GNTST_general_error);
  });

  it.each([
    ["GTF_invalid", GTF.GTF_invalid],
    ["GTF_accept_transfer", GTF.GTF_accept_transfer],
    ["GTF_transitive (v2 only)", GTF.GTF_transitive],
  ])("copy: returns GNTST_general_error for an entry of type %s", (_n, type) => {
    const { hv, a, b } = granted(type);
    expect(copy(hv, b.domid, fromGrant(a.domid, REF)).status).toBe(GNTST.GNTST_general_error);
    expect(flagsOf(hv, a.domid, REF)).toBe(type);
  });

  it("copy: returns GNTST_general_error for a dest grant marked GTF_readonly, and reads from one fine", () => {
    const { hv, a, b } = granted(GTF.GTF_permit_access | GTF.GTF_readonly);
    expect(copy(hv, b.domid, toGrant(a.domid, REF)).status).toBe(GNTST.GNTST_general_error);
    expect(copy(hv, b.domid, fromGrant(a.domid, REF)).status).toBe(GNTST.GNTST_okay);
  });

  it("copy: returns GNTST_general_error when the ref is pinned by a different domain", () => {
    const { hv, dom0, a, b } = granted();
    expect(map(hv, b.domid, a.domid, REF, MAP_GFN, true).status).toBe(GNTST.GNTST_okay);
    // The granter re-targets the live entry at dom0; the active entry still belongs to b.
    hv.guest(a.domid)
      .memory.writablePage(internal(a).gnttab.frameGfn(0)!)
      .setU16(REF * 8 + 2, dom0.domid);
    expect(copy(hv, dom0.domid, fromGrant(a.domid, REF)).status).toBe(GNTST.GNTST_general_error);
  });

  it("copy: returns GNTST_general_error when the source's host-read pin counter is full", () => {
    const { hv, a, b } = granted();
    for (let i = 0; i < 128; i++) map(hv, b.domid, a.domid, REF, MAP_GFN + i, true);
    expect(copy(hv, b.domid, fromGrant(a.domid, REF)).status).toBe(GNTST.GNTST_general_error);
    expect(copy(hv, b.domid, toGrant(a.domid, REF)).status).toBe(GNTST.GNTST_okay); // host-write counter is free
  });

  it("copy: returns GNTST_bad_page when the granted GFN is a hole", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, REF, b.domid, 0x30000);
    expect(copy(hv, b.domid, fromGrant(a.domid, REF)).status).toBe(GNTST.GNTST_bad_page);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("copy: returns GNTST_bad_page for a raw frame that is a hole or a foreign mapping", () => {
    const { hv, a, b } = granted();
    const op = toGrant(a.domid, REF);
    op.source.u = { gmfn: 0x30000 };
    expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_bad_page);
    map(hv, b.domid, a.domid, REF);
    op.source.u = { gmfn: MAP_GFN };
    expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_bad_page);
  });

  it("copy: returns GNTST_bad_page for a raw frame the caller mapped with XENMAPSPACE_gmfn_foreign (p2m_is_foreign), moving no bytes", () => {
    const { hv, dom0, a } = granted();
    mapForeign(hv, dom0.domid, a.domid, FRAME, 0x30000);
    const local = hv.guest(dom0.domid).memory.writablePage(LOCAL);
    local.fill(0xab);
    const before = hv.guest(a.domid).memory.page(FRAME).read(0, 16);
    const op: gnttab_copy = {
      source: { u: { gmfn: LOCAL }, domid: DOMID_SELF, offset: 0 },
      dest: { u: { gmfn: 0x30000 }, domid: DOMID_SELF, offset: 0 },
      len: 16,
      flags: 0,
    };
    expect(copy(hv, dom0.domid, op).status).toBe(GNTST.GNTST_bad_page);
    expect(hv.guest(a.domid).memory.page(FRAME).read(0, 16)).toEqual(before);
    [op.source, op.dest] = [op.dest, op.source];
    expect(copy(hv, dom0.domid, op).status).toBe(GNTST.GNTST_bad_page);
    expect(local.read(0, 16)).toEqual(new Uint8Array(16).fill(0xab));
  });

  it("copy: returns GNTST_bad_page through a grant of a page the granter mapped with gmfn_foreign, both directions", () => {
    const { hv, dom0, a, b } = granted();
    mapForeign(hv, dom0.domid, a.domid, FRAME, 0x30000);
    grant(hv, dom0.domid, REF, b.domid, 0x30000);
    const before = hv.guest(a.domid).memory.page(FRAME).read(0, 16);
    expect(copy(hv, b.domid, fromGrant(dom0.domid, REF)).status).toBe(GNTST.GNTST_bad_page);
    expect(copy(hv, b.domid, toGrant(dom0.domid, REF)).status).toBe(GNTST.GNTST_bad_page);
    expect(hv.guest(a.domid).memory.page(FRAME).read(0, 16)).toEqual(before);
    expect(rwBits(hv, dom0.domid, REF)).toBe(0);
  });

  it("copy: returns GNTST_bad_domain for a pinned grant of a dying granter", () => {
    const { hv, a, b } = granted();
    map(hv, b.domid, a.domid, REF, MAP_GFN, true);
    hv.destroyDomain(a.domid);
    expect(a.state).toBe("dying");
    expect(copy(hv, b.domid, fromGrant(a.domid, REF)).status).toBe(GNTST.GNTST_bad_domain);
    expect(internal(a).gnttab.pins(REF)).toMatchObject({ hostRead: 1, hostWrite: 0 });
  });

  it("copy: returns GNTST_bad_copy_arg when source.offset + len passes 4096", () => {
    const { hv, a, b } = granted();
    expect(copy(hv, b.domid, fromGrant(a.domid, REF, { srcOff: 4000, len: 97 })).status).toBe(
      GNTST.GNTST_bad_copy_arg,
    );
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("copy: returns GNTST_bad_copy_arg when dest.offset + len passes 4096", () => {
    const { hv, a, b } = granted();
    expect(copy(hv, b.domid, fromGrant(a.domid, REF, { dstOff: 4095, len: 2 })).status).toBe(
      GNTST.GNTST_bad_copy_arg,
    );
  });

  it("copy: accepts offset + len == 4096 and len 0 (even at offset 4096)", () => {
    const { hv, a, b } = granted();
    expect(copy(hv, b.domid, fromGrant(a.domid, REF, { srcOff: 4095, len: 1 })).status).toBe(
      GNTST.GNTST_okay,
    );
    expect(
      copy(hv, b.domid, fromGrant(a.domid, REF, { srcOff: 4096, dstOff: 4096, len: 0 })).status,
    ).toBe(GNTST.GNTST_okay);
    expect(copy(hv, b.domid, fromGrant(a.domid, REF, { len: 4096 })).status).toBe(GNTST.GNTST_okay);
  });

  it("copy: the claims come before the bounds (bad_gntref / bad_page win over bad_copy_arg)", () => {
    const { hv, a, b } = granted();
    expect(copy(hv, b.domid, fromGrant(a.domid, 512, { srcOff: 4096, len: 10 })).status).toBe(
      GNTST.GNTST_bad_gntref,
    );
    grant(hv, a.domid, 9, b.domid, 0x30000);
    expect(copy(hv, b.domid, fromGrant(a.domid, 9, { srcOff: 4096, len: 10 })).status).toBe(
      GNTST.GNTST_bad_page,
    );
  });
});

describe("copy behaviour", () => {
  it("copies bytes from a grant into the caller's frame at the given offsets", () => {
    const { hv, a, b } = granted();
    const src = hv.guest(a.domid).memory.page(FRAME).read(100, 50);
    expect(
      copy(hv, b.domid, fromGrant(a.domid, REF, { srcOff: 100, dstOff: 7, len: 50 })).status,
    ).toBe(GNTST.GNTST_okay);
    expect(hv.guest(b.domid).memory.page(LOCAL).read(7, 50)).toEqual(src);
    expect(hv.guest(b.domid).memory.page(LOCAL).getU8(6)).toBe(0);
  });

  it("copies bytes from the caller's frame into a grant", () => {
    const { hv, a, b } = granted();
    hv.guest(b.domid).memory.writablePage(LOCAL).setU32(0, 0xcafef00d);
    expect(copy(hv, b.domid, toGrant(a.domid, REF, 4)).status).toBe(GNTST.GNTST_okay);
    expect(hv.guest(a.domid).memory.page(FRAME).getU32(0)).toBe(0xcafef00d);
  });

  it("copies grant to grant between two granters", () => {
    const { hv, dom0, a, b } = granted();
    grant(hv, dom0.domid, REF, b.domid, 3);
    const op: gnttab_copy = {
      source: { u: { ref: REF }, domid: a.domid, offset: 8 },
      dest: { u: { ref: REF }, domid: dom0.domid, offset: 0 },
      len: 8,
      flags: SRC_GREF | DST_GREF,
    };
    expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_okay);
    expect(hv.guest(dom0.domid).memory.page(3).read(0, 8)).toEqual(
      hv.guest(a.domid).memory.page(FRAME).read(8, 8),
    );
  });

  it("leaves no pin and no GTF_reading/GTF_writing behind after the hypercall", () => {
    const { hv, a, b } = granted();
    copy(hv, b.domid, fromGrant(a.domid, REF));
    copy(hv, b.domid, toGrant(a.domid, REF));
    expect(flagsOf(hv, a.domid, REF)).toBe(GTF.GTF_permit_access);
    expect(internal(a).gnttab.isPinned(REF)).toBe(false);
  });

  it("keeps the pins of a concurrent mapping intact", () => {
    const { hv, a, b } = granted();
    map(hv, b.domid, a.domid, REF, MAP_GFN, true);
    copy(hv, b.domid, toGrant(a.domid, REF));
    expect(rwBits(hv, a.domid, REF)).toBe(GTF.GTF_reading);
    expect(internal(a).gnttab.pins(REF)).toMatchObject({ hostRead: 1, hostWrite: 0 });
  });

  it("processes a batch naming the same ref repeatedly, each element with its own status", () => {
    const { hv, a, b } = granted();
    const ops = [
      fromGrant(a.domid, REF, { len: 4 }),
      fromGrant(a.domid, REF, { srcOff: 4094, len: 4 }),
      fromGrant(a.domid, REF, { srcOff: 4, dstOff: 4, len: 4 }),
    ];
    expect(hv.guest(b.domid).hypercall.grant_table_op(GNTTABOP.GNTTABOP_copy, ops, 3)).toBe(0);
    expect(ops.map((o) => o.status)).toEqual([
      GNTST.GNTST_okay,
      GNTST.GNTST_bad_copy_arg,
      GNTST.GNTST_okay,
    ]);
    expect(hv.guest(b.domid).memory.page(LOCAL).read(0, 8)).toEqual(
      hv.guest(a.domid).memory.page(FRAME).read(0, 8),
    );
    expect(internal(a).gnttab.isPinned(REF)).toBe(false);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("copies within one grant when source and dest name the same ref", () => {
    const { hv, a, b } = granted();
    const before = hv.guest(a.domid).memory.page(FRAME).read(0, 32);
    const op: gnttab_copy = {
      source: { u: { ref: REF }, domid: a.domid, offset: 0 },
      dest: { u: { ref: REF }, domid: a.domid, offset: 16 },
      len: 32,
      flags: SRC_GREF | DST_GREF,
    };
    expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_okay);
    expect(hv.guest(a.domid).memory.page(FRAME).read(16, 32)).toEqual(before);
    expect(rwBits(hv, a.domid, REF)).toBe(0);
  });

  it("copy: upgrading a read pin to a write pin writes the pinned frame when the entry now names another (acquire_grant_for_copy: act->mfn)", () => {
    const { hv, a, b } = granted();
    const OTHER = 6;
    map(hv, b.domid, a.domid, REF, MAP_GFN, true); // read pin on GFN 5
    const ga = hv.guest(a.domid);
    ga.memory.writablePage(OTHER).fill(0x11);
    grant(hv, a.domid, REF, b.domid, OTHER, GTF.GTF_permit_access | GTF.GTF_reading); // entry now names GFN 6
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
    hv.guest(b.domid).memory.writablePage(LOCAL).write(0, bytes);
    expect(copy(hv, b.domid, toGrant(a.domid, REF)).status).toBe(GNTST.GNTST_okay);
    expect(ga.memory.page(FRAME).read(0, 16)).toEqual(bytes);
    expect(ga.memory.page(OTHER).read(0, 16)).toEqual(new Uint8Array(16).fill(0x11));
    expect(rwBits(hv, a.domid, REF)).toBe(GTF.GTF_reading);
    expect(internal(a).gnttab.pins(REF)).toMatchObject({ hostRead: 1, hostWrite: 0 });
  });

  it("copy: upgrading a read pin to a write pin gives GNTST_bad_page when the entry now names a hole, keeping the read pin", () => {
    const { hv, a, b } = granted();
    map(hv, b.domid, a.domid, REF, MAP_GFN, true);
    grant(hv, a.domid, REF, b.domid, 0x5000, GTF.GTF_permit_access | GTF.GTF_reading); // beyond RAM: a hole
    expect(copy(hv, b.domid, toGrant(a.domid, REF)).status).toBe(GNTST.GNTST_bad_page);
    expect(rwBits(hv, a.domid, REF)).toBe(GTF.GTF_reading);
    expect(internal(a).gnttab.pins(REF)).toMatchObject({ hostRead: 1, hostWrite: 0 });
  });

  it("moves bytes as memmove for any offsets and length, within one frame or between two", () => {
    const { hv, a, b } = granted();
    const granter = hv.guest(a.domid).memory.writablePage(FRAME);
    const local = hv.guest(b.domid).memory.writablePage(LOCAL);
    fc.assert(
      fc.property(
        fc.nat({ max: 4096 }),
        fc.nat({ max: 4096 }),
        fc.oneof(fc.nat({ max: 80 }), fc.nat({ max: 4096 })),
        fc.boolean(),
        (so, doff, want, sameFrame) => {
          const len = Math.min(want, 4096 - so, 4096 - doff);
          const pattern = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + so) & 0xff);
          granter.write(0, pattern);
          local.fill(0xee);
          const expected = sameFrame ? pattern.slice() : new Uint8Array(4096).fill(0xee);
          if (sameFrame)
            expected.copyWithin(doff, so, so + len); // memmove
          else expected.set(pattern.subarray(so, so + len), doff);
          const op: gnttab_copy = sameFrame
            ? {
                source: { u: { ref: REF }, domid: a.domid, offset: so },
                dest: { u: { ref: REF }, domid: a.domid, offset: doff },
                len,
                flags: SRC_GREF | DST_GREF,
              }
            : fromGrant(a.domid, REF, { srcOff: so, dstOff: doff, len });
          expect(copy(hv, b.domid, op).status).toBe(GNTST.GNTST_okay);
          expect((sameFrame ? granter : local).read(0, 4096)).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});
