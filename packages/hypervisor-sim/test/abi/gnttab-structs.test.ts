// Expected numbers: /usr/include/xen/grant_table.h, Xen 4.17 x86_64 (GNTTABOP argument layouts
// and cache_flush bits; grant_ref_t and grant_handle_t are u32). xen_add_to_physmap's numbers
// are copied from /usr/include/xen/memory.h (Xen 4.17, x86_64).
import { describe, expect, it } from "vitest";
import {
  GNTCOPY,
  GNTMAP,
  GNTST,
  GNTTABOP,
  GNTTABOP_ARG,
  GNTTAB_CACHE,
  GNTTAB_CACHE_FLUSH_SIZE,
  GNTTAB_COPY_PTR_SIZE,
  GNTTAB_COPY_SIZE,
  GNTTAB_DUMP_TABLE_SIZE,
  GNTTAB_GET_STATUS_FRAMES_SIZE,
  GNTTAB_GET_VERSION_SIZE,
  GNTTAB_MAP_GRANT_REF_SIZE,
  GNTTAB_QUERY_SIZE_SIZE,
  GNTTAB_SETUP_TABLE_SIZE,
  GNTTAB_SET_VERSION_SIZE,
  GNTTAB_SWAP_GRANT_REF_SIZE,
  GNTTAB_TRANSFER_SIZE,
  GNTTAB_UNMAP_AND_REPLACE_SIZE,
  GNTTAB_UNMAP_GRANT_REF_SIZE,
  XENMAPIDX_grant_table_status,
  XENMAPSPACE,
  XEN_ADD_TO_PHYSMAP_SIZE,
  gnttab_cache_flush_layout,
  gnttab_copy_layout,
  gnttab_copy_ptr_layout,
  gnttab_dump_table_layout,
  gnttab_get_status_frames_layout,
  gnttab_get_version_layout,
  gnttab_map_grant_ref_layout,
  gnttab_query_size_layout,
  gnttab_set_version_layout,
  gnttab_setup_table_layout,
  gnttab_swap_grant_ref_layout,
  gnttab_transfer_layout,
  gnttab_unmap_and_replace_layout,
  gnttab_unmap_grant_ref_layout,
  readField,
  readSignedField,
  writeField,
  xen_add_to_physmap_layout,
} from "@pvkit/hypervisor-sim/abi";
import { expectDisjoint, expectLayout } from "./expect-layout.js";

describe("GNTTABOP argument structs (grant_table.h)", () => {
  it("lays out gnttab_map_grant_ref in 32 bytes", () => {
    expectLayout(gnttab_map_grant_ref_layout, GNTTAB_MAP_GRANT_REF_SIZE, 32, {
      host_addr: [0, 8],
      flags: [8, 4],
      ref: [12, 4],
      dom: [16, 2],
      status: [18, 2],
      handle: [20, 4],
      dev_bus_addr: [24, 8],
    });
    expectDisjoint(gnttab_map_grant_ref_layout, Object.keys(gnttab_map_grant_ref_layout));
  });

  it("lays out gnttab_unmap_grant_ref and gnttab_unmap_and_replace in 24 bytes", () => {
    expectLayout(gnttab_unmap_grant_ref_layout, GNTTAB_UNMAP_GRANT_REF_SIZE, 24, {
      host_addr: [0, 8],
      dev_bus_addr: [8, 8],
      handle: [16, 4],
      status: [20, 2],
    });
    expectLayout(gnttab_unmap_and_replace_layout, GNTTAB_UNMAP_AND_REPLACE_SIZE, 24, {
      host_addr: [0, 8],
      new_addr: [8, 8],
      handle: [16, 4],
      status: [20, 2],
    });
  });

  it("lays out gnttab_setup_table in 24 bytes with frame_list at 16", () => {
    expectLayout(gnttab_setup_table_layout, GNTTAB_SETUP_TABLE_SIZE, 24, {
      dom: [0, 2],
      nr_frames: [4, 4],
      status: [8, 2],
      frame_list: [16, 8],
    });
  });

  it("lays out gnttab_dump_table in 4 bytes", () => {
    expectLayout(gnttab_dump_table_layout, GNTTAB_DUMP_TABLE_SIZE, 4, {
      dom: [0, 2],
      status: [2, 2],
    });
  });

  it("lays out gnttab_transfer in 24 bytes", () => {
    expectLayout(gnttab_transfer_layout, GNTTAB_TRANSFER_SIZE, 24, {
      mfn: [0, 8],
      domid: [8, 2],
      ref: [12, 4],
      status: [16, 2],
    });
  });

  it("lays out gnttab_copy in 40 bytes with source @0 and dest @16", () => {
    expectLayout(gnttab_copy_layout, GNTTAB_COPY_SIZE, 40, {
      source: [0, 16],
      "source.u": [0, 8],
      "source.u.ref": [0, 4],
      "source.u.gmfn": [0, 8],
      "source.domid": [8, 2],
      "source.offset": [10, 2],
      dest: [16, 16],
      "dest.u": [16, 8],
      "dest.u.ref": [16, 4],
      "dest.u.gmfn": [16, 8],
      "dest.domid": [24, 2],
      "dest.offset": [26, 2],
      len: [32, 2],
      flags: [34, 2],
      status: [36, 2],
    });
    expectDisjoint(gnttab_copy_layout, ["source", "dest", "len", "flags", "status"]);
    expectLayout(gnttab_copy_ptr_layout, GNTTAB_COPY_PTR_SIZE, 16, {
      u: [0, 8],
      "u.ref": [0, 4],
      "u.gmfn": [0, 8],
      domid: [8, 2],
      offset: [10, 2],
    });
  });

  it("lays out gnttab_query_size and gnttab_get_status_frames in 16 bytes", () => {
    expectLayout(gnttab_query_size_layout, GNTTAB_QUERY_SIZE_SIZE, 16, {
      dom: [0, 2],
      nr_frames: [4, 4],
      max_nr_frames: [8, 4],
      status: [12, 2],
    });
    expectLayout(gnttab_get_status_frames_layout, GNTTAB_GET_STATUS_FRAMES_SIZE, 16, {
      nr_frames: [0, 4],
      dom: [4, 2],
      status: [6, 2],
      frame_list: [8, 8],
    });
  });

  it("lays out set_version, get_version and swap_grant_ref", () => {
    expectLayout(gnttab_set_version_layout, GNTTAB_SET_VERSION_SIZE, 4, { version: [0, 4] });
    expectLayout(gnttab_get_version_layout, GNTTAB_GET_VERSION_SIZE, 8, {
      dom: [0, 2],
      pad: [2, 2],
      version: [4, 4],
    });
    expectLayout(gnttab_swap_grant_ref_layout, GNTTAB_SWAP_GRANT_REF_SIZE, 12, {
      ref_a: [0, 4],
      ref_b: [4, 4],
      status: [8, 2],
    });
  });

  it("lays out gnttab_cache_flush in 16 bytes with the dev_bus_addr/ref union at 0", () => {
    expectLayout(gnttab_cache_flush_layout, GNTTAB_CACHE_FLUSH_SIZE, 16, {
      a: [0, 8],
      "a.dev_bus_addr": [0, 8],
      "a.ref": [0, 4],
      offset: [8, 2],
      length: [10, 2],
      op: [12, 4],
    });
    expect(GNTTAB_CACHE).toStrictEqual({
      GNTTAB_CACHE_CLEAN: 1,
      GNTTAB_CACHE_INVAL: 2,
      GNTTAB_CACHE_SOURCE_GREF: 2 ** 31,
    });
  });

  it("maps every GNTTABOP number to the struct of the documented size", () => {
    const documented: Record<number, number> = {
      0: 32,
      1: 24,
      2: 24,
      3: 4,
      4: 24,
      5: 40,
      6: 16,
      7: 24,
      8: 4,
      9: 16,
      10: 8,
      11: 12,
      12: 16,
    };
    expect(
      Object.keys(GNTTABOP_ARG)
        .map(Number)
        .sort((a, b) => a - b),
    ).toStrictEqual(Object.values(GNTTABOP).sort((a, b) => a - b));
    for (const [cmd, size] of Object.entries(documented)) {
      expect(GNTTABOP_ARG[Number(cmd)]?.size, `GNTTABOP ${cmd}`).toBe(size);
    }
    expect(GNTTABOP_ARG[GNTTABOP.GNTTABOP_copy]?.layout).toBe(gnttab_copy_layout);
  });
});

describe("golden gnttab structs", () => {
  it("encodes a map_grant_ref request and reads back its s16 status", () => {
    const buf = new Uint8Array(32);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, gnttab_map_grant_ref_layout.host_addr, 0x12_3456_789a_b000);
    writeField(
      dv,
      0,
      gnttab_map_grant_ref_layout.flags,
      GNTMAP.GNTMAP_host_map | GNTMAP.GNTMAP_readonly,
    );
    writeField(dv, 0, gnttab_map_grant_ref_layout.ref, 0x01020304);
    writeField(dv, 0, gnttab_map_grant_ref_layout.dom, 0x0007);
    writeField(dv, 0, gnttab_map_grant_ref_layout.status, 0x10000 + GNTST.GNTST_bad_gntref);
    writeField(dv, 0, gnttab_map_grant_ref_layout.handle, 0xa0b0c0d0);
    writeField(dv, 0, gnttab_map_grant_ref_layout.dev_bus_addr, 0x7f000);
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0x00,
        0xb0,
        0x9a,
        0x78,
        0x56,
        0x34,
        0x12,
        0x00, // host_addr
        0x06,
        0x00,
        0x00,
        0x00,
        0x04,
        0x03,
        0x02,
        0x01, // flags, ref
        0x07,
        0x00,
        0xfd,
        0xff,
        0xd0,
        0xc0,
        0xb0,
        0xa0, // dom, status -3, handle
        0x00,
        0xf0,
        0x07,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // dev_bus_addr
      ]),
    );
    expect(readSignedField(dv, 0, gnttab_map_grant_ref_layout.status)).toBe(GNTST.GNTST_bad_gntref);
  });

  it("encodes a gref-to-gmfn gnttab_copy byte for byte", () => {
    const buf = new Uint8Array(40);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, gnttab_copy_layout["source.u.ref"], 8);
    writeField(dv, 0, gnttab_copy_layout["source.domid"], 2);
    writeField(dv, 0, gnttab_copy_layout["source.offset"], 0x200);
    writeField(dv, 0, gnttab_copy_layout["dest.u.gmfn"], 0x1_0000_0001);
    writeField(dv, 0, gnttab_copy_layout["dest.domid"], 0x7ff0);
    writeField(dv, 0, gnttab_copy_layout["dest.offset"], 0);
    writeField(dv, 0, gnttab_copy_layout.len, 4096);
    writeField(dv, 0, gnttab_copy_layout.flags, GNTCOPY.GNTCOPY_source_gref);
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0x08,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // source.u.ref
        0x02,
        0x00,
        0x00,
        0x02,
        0x00,
        0x00,
        0x00,
        0x00, // source.domid, source.offset, pad
        0x01,
        0x00,
        0x00,
        0x00,
        0x01,
        0x00,
        0x00,
        0x00, // dest.u.gmfn
        0xf0,
        0x7f,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // dest.domid, dest.offset, pad
        0x00,
        0x10,
        0x01,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // len, flags, status, pad
      ]),
    );
  });

  it("places element i of a batch at i * size", () => {
    const n = 3;
    const buf = new Uint8Array(n * GNTTAB_UNMAP_GRANT_REF_SIZE);
    const dv = new DataView(buf.buffer);
    for (let i = 0; i < n; i++)
      writeField(
        dv,
        i * GNTTAB_UNMAP_GRANT_REF_SIZE,
        gnttab_unmap_grant_ref_layout.handle,
        0x10 + i,
      );
    expect([buf[16], buf[40], buf[64]]).toStrictEqual([0x10, 0x11, 0x12]);
    expect(buf.reduce((s, b) => s + b, 0)).toBe(0x10 + 0x11 + 0x12);
  });

  it("decodes a query_size answer from hand-built bytes", () => {
    const buf = Uint8Array.from([0xf0, 0x7f, 0, 0, 1, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0]);
    const dv = new DataView(buf.buffer);
    expect(readField(dv, 0, gnttab_query_size_layout.dom)).toBe(0x7ff0);
    expect(readField(dv, 0, gnttab_query_size_layout.nr_frames)).toBe(1);
    expect(readField(dv, 0, gnttab_query_size_layout.max_nr_frames)).toBe(64);
    expect(readSignedField(dv, 0, gnttab_query_size_layout.status)).toBe(GNTST.GNTST_okay);
  });
});

describe("xen_add_to_physmap (memory.h)", () => {
  it("lays out {domid u16 @0, size u16 @2, space u32 @4, idx u64 @8, gpfn u64 @16} in 24 bytes", () => {
    expectLayout(xen_add_to_physmap_layout, XEN_ADD_TO_PHYSMAP_SIZE, 24, {
      domid: [0, 2],
      size: [2, 2],
      space: [4, 4],
      idx: [8, 8],
      gpfn: [16, 8],
    });
    expect(XENMAPIDX_grant_table_status).toBe(0x80000000);
  });

  it("encodes a request for grant status frame 1 byte for byte", () => {
    const buf = new Uint8Array(24);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, xen_add_to_physmap_layout.domid, 0x7ff0);
    writeField(dv, 0, xen_add_to_physmap_layout.space, XENMAPSPACE.XENMAPSPACE_grant_table);
    // JS `|` yields a negative s32 once bit 31 is set: writeField rejects it instead of truncating.
    expect(() =>
      writeField(dv, 0, xen_add_to_physmap_layout.idx, XENMAPIDX_grant_table_status | 1),
    ).toThrow(RangeError);
    writeField(dv, 0, xen_add_to_physmap_layout.idx, (XENMAPIDX_grant_table_status | 1) >>> 0);
    writeField(dv, 0, xen_add_to_physmap_layout.gpfn, 0xfeff0);
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0xf0,
        0x7f,
        0x00,
        0x00,
        0x01,
        0x00,
        0x00,
        0x00, // domid, size, space 1
        0x01,
        0x00,
        0x00,
        0x80,
        0x00,
        0x00,
        0x00,
        0x00, // idx
        0xf0,
        0xef,
        0x0f,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // gpfn
      ]),
    );
  });
});
