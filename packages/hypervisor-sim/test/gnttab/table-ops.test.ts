/**
 * setup_table, query_size, set_version, get_status_frames, get_version, swap_grant_ref,
 * dump_table, transfer and cache_flush (`grant_table.c`), one test per check, in Xen's order.
 */
import { describe, expect, it } from "vitest";
import {
  DOMID_SELF,
  GNTST,
  GTF,
  GNTTABOP,
  XEN_ERRNO,
  XENMAPSPACE,
  XENMEM,
} from "@pvkit/hypervisor-sim/abi";
import { GNTTAB_GFN_BASE } from "@pvkit/hypervisor-sim";
import { MAP_GFN, flagsOf, grant, map, world } from "./helpers.js";
import { internal } from "../internals.js";

const { EINVAL, EFAULT, ENOSYS, ESRCH, EPERM, EOPNOTSUPP, EILSEQ } = XEN_ERRNO;

function gop(
  hv: ReturnType<typeof world>["hv"],
  domid: number,
  cmd: number,
  args: unknown,
  count = 1,
): number {
  return hv.guest(domid).hypercall.grant_table_op(cmd, args as unknown[], count);
}

describe("setup_table", () => {
  const setup = (dom: number, nr: number, list: unknown = new Array(nr).fill(0)) => ({
    dom,
    nr_frames: nr,
    frame_list: list as number[],
    status: 99,
  });

  it("setup_table: returns -EINVAL when count is not 1", () => {
    const { hv, a } = world();
    expect(
      gop(
        hv,
        a.domid,
        GNTTABOP.GNTTABOP_setup_table,
        [setup(DOMID_SELF, 1), setup(DOMID_SELF, 1)],
        2,
      ),
    ).toBe(-EINVAL);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [setup(DOMID_SELF, 1)], 0)).toBe(
      -EINVAL,
    );
  });

  it("setup_table: returns -EFAULT when frame_list cannot hold nr_frames entries", () => {
    const { hv, a } = world();
    const op = setup(DOMID_SELF, 2, [0]);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(-EFAULT);
    expect(op.status).toBe(99);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [setup(DOMID_SELF, 1, "nope")])).toBe(
      -EFAULT,
    );
  });

  it("setup_table: the count check comes before the frame_list check (-EINVAL, not -EFAULT)", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [setup(DOMID_SELF, 2, [])], 2)).toBe(
      -EINVAL,
    );
  });

  it("setup_table: the frame_list check comes before the domain lookup (-EFAULT, not bad_domain)", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [setup(0x1234, 3, [])])).toBe(-EFAULT);
  });

  it("setup_table: returns GNTST_bad_domain for an unknown domain", () => {
    const { hv, a } = world();
    const op = setup(0x1234, 1);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_bad_domain);
  });

  it("setup_table: returns GNTST_permission_denied for another domU's table (XSM TARGET)", () => {
    const { hv, a, b } = world();
    const op = setup(b.domid, 1);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_permission_denied);
  });

  it("setup_table: lets dom0 and the target's device model set up a domU's table", () => {
    const { hv, dom0, a } = world();
    const dm = hv.createDomain({ target: a.domid });
    for (const caller of [dom0.domid, dm.domid]) {
      const op = setup(a.domid, 1);
      expect(gop(hv, caller, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(0);
      expect(op.status).toBe(GNTST.GNTST_okay);
    }
  });

  it("setup_table: returns GNTST_general_error when nr_frames exceeds max_grant_frames", () => {
    const { hv, a } = world({ a: { maxGrantFrames: 4 } });
    const op = setup(DOMID_SELF, 5);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_general_error);
    expect(internal(a).gnttab.nrFrames).toBe(1);
  });

  it("setup_table: the XSM check comes before the size check (permission_denied, not general_error)", () => {
    const { hv, a, b } = world();
    const op = setup(b.domid, 65);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_permission_denied);
  });

  it("setup_table: the domain lookup comes before the XSM check (bad_domain, not permission_denied)", () => {
    const { hv, a } = world();
    const op = setup(0x1234, 65);
    gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op]);
    expect(op.status).toBe(GNTST.GNTST_bad_domain);
  });

  it("setup_table: grows the table and reports the grant-table window GFNs", () => {
    const { hv, a } = world();
    const op = setup(DOMID_SELF, 3);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(op.frame_list).toEqual([GNTTAB_GFN_BASE, GNTTAB_GFN_BASE + 1, GNTTAB_GFN_BASE + 2]);
    expect(internal(a).gnttab.nrFrames).toBe(3);
    // The frames are the table: a guest write shows up where Xen reads it.
    hv.guest(a.domid)
      .memory.writablePage(op.frame_list[2]!)
      .setU16(7 * 8, GTF.GTF_permit_access);
    expect(internal(a).gnttab.entryFlags(1024 + 7)).toBe(GTF.GTF_permit_access);
  });

  it("setup_table: never shrinks; nr_frames 0 is okay and writes nothing", () => {
    const { hv, a } = world();
    gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [setup(DOMID_SELF, 2)]);
    const op = setup(DOMID_SELF, 0, []);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_okay);
    expect(internal(a).gnttab.nrFrames).toBe(2);
  });

  it("setup_table: returns GNTST_bad_virt_addr when frame_list cannot be written", () => {
    const { hv, a } = world();
    const op = setup(DOMID_SELF, 1, Object.freeze([0]));
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_bad_virt_addr);
  });

  it("setup_table: returns GNTST_general_error when the window slot already holds another page", () => {
    const { hv, a, b } = world();
    grant(hv, b.domid, 8, a.domid, 5);
    expect(map(hv, a.domid, b.domid, 8, GNTTAB_GFN_BASE).status).toBe(GNTST.GNTST_okay);
    const op = setup(DOMID_SELF, 1);
    gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op]);
    expect(op.status).toBe(GNTST.GNTST_general_error);
  });

  it("setup_table: reports the GFN XENMEM_add_to_physmap chose for a frame", () => {
    const { hv, a } = world();
    const atp = {
      domid: DOMID_SELF,
      space: XENMAPSPACE.XENMAPSPACE_grant_table,
      idx: 1,
      gpfn: 0x30000,
    };
    expect(hv.guest(a.domid).hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, atp)).toBe(0);
    const op = setup(DOMID_SELF, 2);
    gop(hv, a.domid, GNTTABOP.GNTTABOP_setup_table, [op]);
    expect(op.frame_list).toEqual([GNTTAB_GFN_BASE, 0x30000]);
  });
});

describe("query_size", () => {
  it("query_size: returns -EINVAL when count is not 1", () => {
    const { hv, a } = world();
    expect(
      gop(hv, a.domid, GNTTABOP.GNTTABOP_query_size, [{ dom: DOMID_SELF }, { dom: DOMID_SELF }], 2),
    ).toBe(-EINVAL);
  });

  it("query_size: returns GNTST_bad_domain for an unknown domain", () => {
    const { hv, a } = world();
    const op = { dom: 0x1234 } as { dom: number; status?: number; nr_frames?: number };
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_query_size, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_bad_domain);
    expect(op.nr_frames).toBeUndefined();
  });

  it("query_size: returns GNTST_permission_denied for another domU (XSM TARGET)", () => {
    const { hv, a, b } = world();
    const op = { dom: b.domid } as { dom: number; status?: number };
    gop(hv, a.domid, GNTTABOP.GNTTABOP_query_size, [op]);
    expect(op.status).toBe(GNTST.GNTST_permission_denied);
  });

  it("query_size: reports the current and maximum frame counts", () => {
    const { hv, dom0, a } = world({ a: { maxGrantFrames: 10 } });
    const op = { dom: a.domid } as {
      dom: number;
      status?: number;
      nr_frames?: number;
      max_nr_frames?: number;
    };
    gop(hv, dom0.domid, GNTTABOP.GNTTABOP_query_size, [op]);
    expect(op).toMatchObject({ status: 0, nr_frames: 1, max_nr_frames: 10 });
    const self = { dom: DOMID_SELF } as typeof op;
    gop(hv, dom0.domid, GNTTABOP.GNTTABOP_query_size, [self]);
    expect(self).toMatchObject({ status: 0, nr_frames: 1, max_nr_frames: 64 });
  });
});

describe("set_version", () => {
  it.each([0, 3, 0xffffffff])(
    "set_version: returns -EINVAL for version %d and writes back 1",
    (version) => {
      const { hv, a } = world();
      const op = { version };
      expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_set_version, [op])).toBe(-EINVAL);
      expect(op.version).toBe(1);
    },
  );

  it("set_version: returns -ENOSYS for version 2 (the maximum version is 1) and writes back 1", () => {
    const { hv, a } = world();
    const op = { version: 2 };
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_set_version, [op])).toBe(-ENOSYS);
    expect(op.version).toBe(1);
  });

  it("set_version: version 1 is the current version: 0", () => {
    const { hv, a } = world();
    const op = { version: 1 };
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_set_version, [op])).toBe(0);
    expect(op.version).toBe(1);
  });

  it("set_version: does not look at count", () => {
    const { hv, a } = world();
    const op = { version: 2 };
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_set_version, [op], 0)).toBe(-ENOSYS);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_set_version, [{ version: 1 }], 7)).toBe(0);
  });
});

describe("get_status_frames", () => {
  const gsf = (dom: number, nr: number, list: unknown = new Array(nr).fill(0)) => ({
    dom,
    nr_frames: nr,
    frame_list: list as number[],
    status: 99,
  });

  it("get_status_frames: returns -EINVAL when count is not 1", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_get_status_frames, [gsf(DOMID_SELF, 0)], 2)).toBe(
      -EINVAL,
    );
  });

  it("get_status_frames: returns -EFAULT when frame_list cannot hold nr_frames entries", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_get_status_frames, [gsf(0x1234, 2, [])])).toBe(
      -EFAULT,
    );
  });

  it("get_status_frames: returns GNTST_bad_domain for an unknown domain", () => {
    const { hv, a } = world();
    const op = gsf(0x1234, 1);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_get_status_frames, [op])).toBe(0);
    expect(op.status).toBe(GNTST.GNTST_bad_domain);
  });

  it("get_status_frames: returns GNTST_permission_denied for another domU (XSM TARGET)", () => {
    const { hv, a, b } = world();
    const op = gsf(b.domid, 1);
    gop(hv, a.domid, GNTTABOP.GNTTABOP_get_status_frames, [op]);
    expect(op.status).toBe(GNTST.GNTST_permission_denied);
  });

  it("get_status_frames: returns GNTST_general_error for any frame of a v1 table, okay for 0", () => {
    const { hv, a } = world();
    const op = gsf(DOMID_SELF, 1);
    gop(hv, a.domid, GNTTABOP.GNTTABOP_get_status_frames, [op]);
    expect(op.status).toBe(GNTST.GNTST_general_error);
    const zero = gsf(DOMID_SELF, 0);
    gop(hv, a.domid, GNTTABOP.GNTTABOP_get_status_frames, [zero]);
    expect(zero.status).toBe(GNTST.GNTST_okay);
  });
});

describe("get_version", () => {
  it("get_version: returns -ESRCH as the hypercall result for an unknown domain", () => {
    const { hv, a } = world();
    const op = { dom: 0x1234 } as { dom: number; version?: number };
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_get_version, [op])).toBe(-ESRCH);
    expect(op.version).toBeUndefined();
  });

  it("get_version: returns -EPERM for another domU (XSM TARGET)", () => {
    const { hv, a, b } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_get_version, [{ dom: b.domid }])).toBe(-EPERM);
  });

  it("get_version: reports version 1 for DOMID_SELF and to dom0", () => {
    const { hv, dom0, a } = world();
    const self = { dom: DOMID_SELF } as { dom: number; version?: number };
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_get_version, [self])).toBe(0);
    expect(self.version).toBe(1);
    const other = { dom: a.domid } as { dom: number; version?: number };
    expect(gop(hv, dom0.domid, GNTTABOP.GNTTABOP_get_version, [other])).toBe(0);
    expect(other.version).toBe(1);
  });
});

describe("swap_grant_ref", () => {
  const swap = (
    hv: ReturnType<typeof world>["hv"],
    domid: number,
    ref_a: number,
    ref_b: number,
  ) => {
    const op = { ref_a, ref_b } as { ref_a: number; ref_b: number; status?: number };
    expect(gop(hv, domid, GNTTABOP.GNTTABOP_swap_grant_ref, [op])).toBe(0);
    return op.status;
  };

  it("swap_grant_ref: returns GNTST_bad_gntref when ref_a is out of range", () => {
    const { hv, a } = world();
    expect(swap(hv, a.domid, 512, 8)).toBe(GNTST.GNTST_bad_gntref);
  });

  it("swap_grant_ref: returns GNTST_bad_gntref when ref_b is out of range", () => {
    const { hv, a } = world();
    expect(swap(hv, a.domid, 8, 512)).toBe(GNTST.GNTST_bad_gntref);
  });

  it("swap_grant_ref: swapping a ref with itself is okay and changes nothing, even when pinned", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    map(hv, b.domid, a.domid, 8);
    expect(swap(hv, a.domid, 8, 8)).toBe(GNTST.GNTST_okay);
    expect(internal(a).gnttab.entryFrame(8)).toBe(5);
  });

  it("swap_grant_ref: returns GNTST_eagain when ref_a is pinned", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    map(hv, b.domid, a.domid, 8);
    expect(swap(hv, a.domid, 8, 9)).toBe(GNTST.GNTST_eagain);
  });

  it("swap_grant_ref: returns GNTST_eagain when ref_b is pinned", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 9, b.domid, 5);
    map(hv, b.domid, a.domid, 9);
    expect(swap(hv, a.domid, 8, 9)).toBe(GNTST.GNTST_eagain);
    expect(internal(a).gnttab.entryFrame(9)).toBe(5);
  });

  it("swap_grant_ref: the range checks come before the pin checks (bad_gntref, not eagain)", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    map(hv, b.domid, a.domid, 8);
    expect(swap(hv, a.domid, 8, 9999)).toBe(GNTST.GNTST_bad_gntref);
  });

  it("swap_grant_ref: exchanges the two 8-byte entries", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    grant(hv, a.domid, 9, 0, 6, GTF.GTF_permit_access | GTF.GTF_readonly);
    expect(swap(hv, a.domid, 8, 9)).toBe(GNTST.GNTST_okay);
    expect([
      internal(a).gnttab.entryDomid(8),
      internal(a).gnttab.entryFrame(8),
      flagsOf(hv, a.domid, 8),
    ]).toEqual([0, 6, GTF.GTF_permit_access | GTF.GTF_readonly]);
    expect([
      internal(a).gnttab.entryDomid(9),
      internal(a).gnttab.entryFrame(9),
      flagsOf(hv, a.domid, 9),
    ]).toEqual([b.domid, 5, GTF.GTF_permit_access]);
  });
});

describe("dump_table, transfer and cache_flush", () => {
  it("dump_table: returns -ENOSYS (4.17 has no handler)", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_dump_table, [{ dom: DOMID_SELF }])).toBe(-ENOSYS);
  });

  it("transfer: returns -EOPNOTSUPP (grant transfer disabled)", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_transfer, [{ mfn: 5, domid: 0, ref: 8 }])).toBe(
      -EOPNOTSUPP,
    );
  });

  it("transfer: the argument array is checked first (-EFAULT, not -EOPNOTSUPP)", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_transfer, [], 1)).toBe(-EFAULT);
  });

  const flush = (dev_bus_addr: number, offset: number, length: number, op: number) => ({
    a: { dev_bus_addr },
    offset,
    length,
    op,
  });

  it.each([
    ["offset 4096", 4096, 1, 1],
    ["length 4097", 0, 4097, 1],
    ["offset + length past the page", 4000, 100, 1],
    ["an unknown op bit", 0, 8, 4],
  ])("cache_flush: returns -EINVAL for %s", (_n, offset, length, op) => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_cache_flush, [flush(0, offset, length, op)])).toBe(
      -EINVAL,
    );
  });

  it("cache_flush: returns -EINVAL for GNTTAB_CACHE_SOURCE_GREF (the op-bit check comes first in 4.17)", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_cache_flush, [flush(0, 0, 8, 0x8000_0001)])).toBe(
      -EINVAL,
    );
  });

  it("cache_flush: length 0 or op 0 is a no-op: 0, or -EILSEQ with a resume ref in cmd", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_cache_flush, [flush(0, 0, 0, 1)])).toBe(0);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_cache_flush, [flush(0, 0, 8, 0)])).toBe(0);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_cache_flush | (1 << 12), [flush(0, 0, 0, 1)])).toBe(
      -EILSEQ,
    );
  });

  it("cache_flush: flushes a frame the caller has grant-mapped, and refuses one it has not", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    const m = map(hv, b.domid, a.domid, 8);
    expect(
      gop(hv, b.domid, GNTTABOP.GNTTABOP_cache_flush, [flush(m.dev_bus_addr!, 0, 64, 3)]),
    ).toBe(0);
    const other = hv.guest(a.domid).memory.page(6).mfn * 4096;
    expect(gop(hv, b.domid, GNTTABOP.GNTTABOP_cache_flush, [flush(other, 0, 64, 1)])).toBe(-EINVAL);
  });

  it("cache_flush: stops at the first failing element and returns its errno", () => {
    const { hv, a } = world();
    const ok = flush(0, 0, 0, 1);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_cache_flush, [ok, flush(0, 4096, 0, 1), ok], 3)).toBe(
      -EINVAL,
    );
  });
});

describe("top-level rules", () => {
  it.each([-1, 2 ** 31, 0x8000_0001])(
    "grant_table_op: returns -EINVAL for count %d ((int)count < 0)",
    (count) => {
      const { hv, a } = world();
      expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_map_grant_ref, [], count)).toBe(-EINVAL);
      expect(gop(hv, a.domid, 99, [], count)).toBe(-EINVAL); // before the cmd is looked at
    },
  );

  it("grant_table_op: returns -EINVAL for continuation bits on any op but cache_flush", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_map_grant_ref | (1 << 12), [], 0)).toBe(-EINVAL);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_query_size | (1 << 20), [{ dom: DOMID_SELF }])).toBe(
      -EINVAL,
    );
    expect(gop(hv, a.domid, 99 | (1 << 12), [], 0)).toBe(-EINVAL); // before the unknown-cmd check
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_cache_flush | (1 << 12), [], 0)).toBe(0);
  });

  it("grant_table_op: returns -ENOSYS for an unknown cmd", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, 13, [], 0)).toBe(-ENOSYS);
    expect(gop(hv, a.domid, 0xfff, [], 0)).toBe(-ENOSYS);
  });

  it("grant_table_op: returns -EFAULT for a batched op whose array is not an array or is shorter than count", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    const op = { host_addr: MAP_GFN * 4096, flags: 2, ref: 8, dom: a.domid } as { status?: number };
    expect(gop(hv, b.domid, GNTTABOP.GNTTABOP_map_grant_ref, [op], 2)).toBe(-EFAULT);
    expect(op.status).toBeUndefined(); // nothing was processed
    expect(gop(hv, b.domid, GNTTABOP.GNTTABOP_map_grant_ref, op, 1)).toBe(-EFAULT);
    expect(gop(hv, b.domid, GNTTABOP.GNTTABOP_copy, null, 1)).toBe(-EFAULT);
    expect(gop(hv, b.domid, GNTTABOP.GNTTABOP_swap_grant_ref, [], 1)).toBe(-EFAULT);
    expect(gop(hv, b.domid, GNTTABOP.GNTTABOP_unmap_grant_ref, [], 1)).toBe(-EFAULT);
  });

  it("grant_table_op: count 0 does nothing and succeeds whatever the array", () => {
    const { hv, a } = world();
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_map_grant_ref, null, 0)).toBe(0);
    expect(gop(hv, a.domid, GNTTABOP.GNTTABOP_copy, [], 0)).toBe(0);
  });

  it("grant_table_op: an unreadable element gives -EFAULT after the earlier elements were processed", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    const first = { host_addr: MAP_GFN * 4096, flags: 2, ref: 8, dom: a.domid } as {
      status?: number;
    };
    const bad = { host_addr: -1, flags: 2, ref: 8, dom: a.domid } as { status?: number };
    expect(gop(hv, b.domid, GNTTABOP.GNTTABOP_map_grant_ref, [first, bad], 2)).toBe(-EFAULT);
    expect(first.status).toBe(GNTST.GNTST_okay);
    expect(bad.status).toBeUndefined();
    expect(flagsOf(hv, a.domid, 8) & GTF.GTF_reading).toBe(GTF.GTF_reading);
  });
});
