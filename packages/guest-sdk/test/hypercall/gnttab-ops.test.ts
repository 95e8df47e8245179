import { describe, expect, it } from "vitest";
import { Hypervisor, type Guest } from "@pvkit/hypervisor-sim";
import {
  GNTCOPY,
  GNTMAP,
  GNTST,
  GTF,
  XEN_ERRNO,
  type gnttab_map_grant_ref,
} from "@pvkit/hypervisor-sim/abi";
import { GrantStatusError, XenError } from "@pvkit/guest-sdk";
import {
  copyGrants,
  mapGrantRefs,
  querySize,
  setupTable,
  unmapGrantRefs,
} from "@pvkit/guest-sdk/hypercall";

/** dom0 and a domU; the domU grants its RAM page `gfn` to dom0 through ref `ref`. */
function granted(readonly = false) {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  const du = hv.createDomain({ nrPages: 64 });
  const g0 = hv.guest(0);
  const gu = hv.guest(du.domid);
  const [frame] = setupTable(gu.hypercall, 1);
  const table = gu.memory.writablePage(frame!);
  const grant = (ref: number, gfn: number, ro = readonly): void => {
    table.setU16(ref * 8 + 2, 0);
    table.setU32(ref * 8 + 4, gfn);
    table.setU16(ref * 8, GTF.GTF_permit_access | (ro ? GTF.GTF_readonly : 0));
  };
  return { hv, g0, gu, du, table, grant };
}

/** A hole in `g`'s physmap for a host mapping. */
function holeAddr(g: Guest, n = 0): number {
  let gfn = g.memory.nrPages + 16 + n;
  while (!g.memory.isHole(gfn)) gfn++;
  return gfn * 4096;
}

function thrown<E>(f: () => unknown, cls: new (...a: never[]) => E): E {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    return e as E;
  }
  throw new Error("expected a throw");
}

describe("grant-table wrappers", () => {
  it("maps a granted page so both domains see the same bytes, then unmaps it", () => {
    const { g0, gu, du, grant } = granted();
    gu.memory.writablePage(5).setU32(0, 0xfeedbeef);
    grant(10, 5);
    const host = holeAddr(g0);
    const [m] = mapGrantRefs(g0.hypercall, [
      { host_addr: host, flags: GNTMAP.GNTMAP_host_map, ref: 10, dom: du.domid },
    ]);
    expect(m!.status).toBe(GNTST.GNTST_okay);
    const view = g0.memory.writablePage(host / 4096);
    expect(view.getU32(0)).toBe(0xfeedbeef);
    view.setU32(4, 7);
    expect(gu.memory.page(5).getU32(4)).toBe(7);
    unmapGrantRefs(g0.hypercall, [{ host_addr: host, dev_bus_addr: 0, handle: m!.handle! }]);
    expect(g0.memory.isHole(host / 4096)).toBe(true);
  });

  it("throws GrantStatusError with the failing index and rolls back the elements that mapped", () => {
    const { g0, du, grant, table } = granted();
    grant(10, 5);
    const host = holeAddr(g0);
    const ops: gnttab_map_grant_ref[] = [
      { host_addr: host, flags: GNTMAP.GNTMAP_host_map, ref: 10, dom: du.domid },
      { host_addr: holeAddr(g0, 1), flags: GNTMAP.GNTMAP_host_map, ref: 600, dom: du.domid }, // beyond the 512 entries of one v1 frame
    ];
    const e = thrown(() => mapGrantRefs(g0.hypercall, ops), GrantStatusError);
    expect([e.code, e.status, e.op, e.index]).toEqual([
      "GNTST_bad_gntref",
      GNTST.GNTST_bad_gntref,
      "GNTTABOP_map_grant_ref",
      1,
    ]);
    expect(e.batch).toBe(ops);
    expect(ops[0]!.status).toBe(GNTST.GNTST_okay);
    // Rolled back: the first mapping is gone and the granter's entry is no longer in use.
    expect(g0.memory.isHole(host / 4096)).toBe(true);
    expect(table.getU16(10 * 8) & (GTF.GTF_reading | GTF.GTF_writing)).toBe(0);
  });

  it("reports a map of DOMID_SELF as GNTST_bad_domain and a writable map of a read-only grant as general_error", () => {
    const { g0, du, grant } = granted(true);
    grant(12, 6);
    const self = thrown(
      () =>
        mapGrantRefs(g0.hypercall, [
          { host_addr: holeAddr(g0), flags: GNTMAP.GNTMAP_host_map, ref: 12, dom: 0x7ff0 },
        ]),
      GrantStatusError,
    );
    expect(self.code).toBe("GNTST_bad_domain");
    const ro = thrown(
      () =>
        mapGrantRefs(g0.hypercall, [
          { host_addr: holeAddr(g0), flags: GNTMAP.GNTMAP_host_map, ref: 12, dom: du.domid },
        ]),
      GrantStatusError,
    );
    expect([ro.code, ro.status]).toEqual(["GNTST_general_error", GNTST.GNTST_general_error]);
  });

  it("throws GrantStatusError bad_handle for an unknown unmap handle", () => {
    const { g0 } = granted();
    const e = thrown(
      () => unmapGrantRefs(g0.hypercall, [{ host_addr: 0, dev_bus_addr: 0, handle: 999 }]),
      GrantStatusError,
    );
    expect([e.code, e.op, e.index]).toEqual(["GNTST_bad_handle", "GNTTABOP_unmap_grant_ref", 0]);
  });

  it("copies through a grant and reports an out-of-page copy as bad_copy_arg", () => {
    const { g0, gu, du, grant } = granted();
    grant(20, 7);
    const src = g0.memory.writablePage(3);
    src.write(100, new Uint8Array([1, 2, 3, 4]));
    copyGrants(g0.hypercall, [
      {
        source: { u: { gmfn: 3 }, domid: 0x7ff0, offset: 100 },
        dest: { u: { ref: 20 }, domid: du.domid, offset: 8 },
        len: 4,
        flags: GNTCOPY.GNTCOPY_dest_gref,
      },
    ]);
    expect([...gu.memory.page(7).read(8, 4)]).toEqual([1, 2, 3, 4]);
    const e = thrown(
      () =>
        copyGrants(g0.hypercall, [
          {
            source: { u: { gmfn: 3 }, domid: 0x7ff0, offset: 4000 },
            dest: { u: { ref: 20 }, domid: du.domid, offset: 0 },
            len: 200,
            flags: GNTCOPY.GNTCOPY_dest_gref,
          },
        ]),
      GrantStatusError,
    );
    expect([e.code, e.op]).toEqual(["GNTST_bad_copy_arg", "GNTTABOP_copy"]);
  });

  it("queries and grows the table, and reports an oversized setup as general_error", () => {
    const { gu } = granted();
    const size = querySize(gu.hypercall);
    expect(size.nrFrames).toBe(1);
    expect(size.maxNrFrames).toBe(64);
    const frames = setupTable(gu.hypercall, 4);
    expect(frames).toHaveLength(4);
    expect(new Set(frames).size).toBe(4);
    expect(querySize(gu.hypercall).nrFrames).toBe(4);
    const e = thrown(() => setupTable(gu.hypercall, size.maxNrFrames + 1), GrantStatusError);
    expect([e.code, e.op]).toEqual(["GNTST_general_error", "GNTTABOP_setup_table"]);
  });

  it("reports an unknown domain as GNTST_bad_domain and an unprivileged query of another domain as permission_denied", () => {
    const { gu } = granted();
    expect(thrown(() => querySize(gu.hypercall, 300), GrantStatusError).code).toBe(
      "GNTST_bad_domain",
    );
    expect(thrown(() => querySize(gu.hypercall, 0), GrantStatusError).code).toBe(
      "GNTST_permission_denied",
    );
  });

  it("throws XenError EFAULT when an element cannot be read, before any element is processed", () => {
    const { g0, du, grant } = granted();
    grant(10, 5);
    const ops: gnttab_map_grant_ref[] = [
      { host_addr: holeAddr(g0), flags: GNTMAP.GNTMAP_host_map, ref: 10, dom: du.domid },
      { host_addr: -1, flags: GNTMAP.GNTMAP_host_map, ref: 10, dom: du.domid }, // not a u64 address
    ];
    const e = thrown(() => mapGrantRefs(g0.hypercall, ops), XenError);
    expect([e.code, e.errno, e.op]).toEqual(["EFAULT", XEN_ERRNO.EFAULT, "GNTTABOP_map_grant_ref"]);
  });
});
