// Expected numbers: gcc 12.2 sizeof/offsetof, measured three ways (see blkif-x86_32-probe.c):
// - x86_64-abi: Xen 4.17 xen/include/public/io/blkif.h from libxen-dev, compiled natively
//   (also checked by `pnpm abi-check`);
// - x86_32-abi: the same header compiled with `gcc -m32` (i386: uint64_t 4-aligned), and
//   Linux blkback common.h's packed struct blkif_x86_32_request{,_rw,_discard,_other,_indirect}
//   mirrored on x86_64; both agree.
import { describe, expect, it } from "vitest";
import {
  BLKIF_DISCARD_SECURE,
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_REQUEST_DISCARD_SIZE,
  BLKIF_REQUEST_INDIRECT_SIZE,
  BLKIF_REQUEST_OTHER_SIZE,
  BLKIF_REQUEST_SEGMENT_SIZE,
  BLKIF_REQUEST_SIZE,
  BLKIF_RESPONSE_SIZE,
  BLKIF_RSP,
  BLKIF_SRING_ENTRY_SIZE,
  BLKIF_X86_32_REQUEST_DISCARD_SIZE,
  BLKIF_X86_32_REQUEST_INDIRECT_SIZE,
  BLKIF_X86_32_REQUEST_OTHER_SIZE,
  BLKIF_X86_32_REQUEST_SIZE,
  BLKIF_X86_32_RESPONSE_SIZE,
  BLKIF_X86_32_SRING_ENTRY_SIZE,
  SEGS_PER_INDIRECT_FRAME,
  VDISK,
  XEN_IO_PROTO_ABI_X86_32,
  XEN_IO_PROTO_ABI_X86_64,
  __RING_SIZE,
  blkif_request,
  blkif_request_discard,
  blkif_request_indirect,
  blkif_request_other,
  blkif_request_segment,
  blkif_response,
  blkif_x86_32_request,
  blkif_x86_32_request_discard,
  blkif_x86_32_request_indirect,
  blkif_x86_32_request_other,
  blkif_x86_32_response,
  readSignedField,
  writeField,
  type Layout,
} from "@pvkit/hypervisor-sim/abi";
import { bytes, expectDisjoint, expectLayout } from "../expect-layout.js";

describe("blkif layouts, x86_64-abi (io/blkif.h)", () => {
  it("has struct blkif_request_segment at 8 bytes", () => {
    expectLayout(blkif_request_segment, BLKIF_REQUEST_SEGMENT_SIZE, 8, {
      gref: [0, 4],
      first_sect: [4, 1],
      last_sect: [5, 1],
    });
  });

  it("has struct blkif_request at 112 bytes with seg[11] at 24", () => {
    expectLayout(blkif_request, BLKIF_REQUEST_SIZE, 112, {
      operation: [0, 1],
      nr_segments: [1, 1],
      handle: [2, 2],
      id: [8, 8],
      sector_number: [16, 8],
      seg: [24, 88],
    });
    expectDisjoint(blkif_request, Object.keys(blkif_request));
  });

  it("has struct blkif_request_discard at 32 bytes", () => {
    expectLayout(blkif_request_discard, BLKIF_REQUEST_DISCARD_SIZE, 32, {
      operation: [0, 1],
      flag: [1, 1],
      handle: [2, 2],
      id: [8, 8],
      sector_number: [16, 8],
      nr_sectors: [24, 8],
    });
  });

  it("has struct blkif_request_indirect at 64 bytes with indirect_grefs[8] at 28", () => {
    expectLayout(blkif_request_indirect, BLKIF_REQUEST_INDIRECT_SIZE, 64, {
      operation: [0, 1],
      indirect_op: [1, 1],
      nr_segments: [2, 2],
      id: [8, 8],
      sector_number: [16, 8],
      handle: [24, 2],
      indirect_grefs: [28, 32],
    });
    expectDisjoint(blkif_request_indirect, Object.keys(blkif_request_indirect));
  });

  it("has the other-operation view with id at 8 (Linux blkif_x86_64_request_other)", () => {
    expectLayout(blkif_request_other, BLKIF_REQUEST_OTHER_SIZE, 16, {
      operation: [0, 1],
      id: [8, 8],
    });
  });

  it("has struct blkif_response at 16 bytes, status at 10", () => {
    expectLayout(blkif_response, BLKIF_RESPONSE_SIZE, 16, {
      id: [0, 8],
      operation: [8, 1],
      status: [10, 2],
    });
  });

  it("keeps id at one offset in every request variant", () => {
    const ids = [
      blkif_request,
      blkif_request_discard,
      blkif_request_indirect,
      blkif_request_other,
    ].map((l) => l.id[0]);
    expect(ids).toStrictEqual([8, 8, 8, 8]);
  });

  it("makes the sring entry 112 bytes and a one-page ring 32 entries, 512 at order 4", () => {
    expect(BLKIF_SRING_ENTRY_SIZE).toBe(112);
    expect(
      [0, 1, 2, 3, 4].map((o) => __RING_SIZE(4096 << o, BLKIF_SRING_ENTRY_SIZE)),
    ).toStrictEqual([32, 64, 128, 256, 512]);
  });
});

describe("blkif layouts, x86_32-abi (Linux xen-blkback/common.h)", () => {
  it("has struct blkif_x86_32_request at 108 bytes, id at 4 and seg at 20", () => {
    expectLayout(blkif_x86_32_request, BLKIF_X86_32_REQUEST_SIZE, 108, {
      operation: [0, 1],
      nr_segments: [1, 1],
      handle: [2, 2],
      id: [4, 8],
      sector_number: [12, 8],
      seg: [20, 88],
    });
    expectDisjoint(blkif_x86_32_request, Object.keys(blkif_x86_32_request));
  });

  it("has the x86_32 discard at 28 bytes", () => {
    expectLayout(blkif_x86_32_request_discard, BLKIF_X86_32_REQUEST_DISCARD_SIZE, 28, {
      operation: [0, 1],
      flag: [1, 1],
      handle: [2, 2],
      id: [4, 8],
      sector_number: [12, 8],
      nr_sectors: [20, 8],
    });
  });

  it("has the x86_32 indirect at 64 bytes with grefs at 24 and pad at 56", () => {
    expectLayout(blkif_x86_32_request_indirect, BLKIF_X86_32_REQUEST_INDIRECT_SIZE, 64, {
      operation: [0, 1],
      indirect_op: [1, 1],
      nr_segments: [2, 2],
      id: [4, 8],
      sector_number: [12, 8],
      handle: [20, 2],
      indirect_grefs: [24, 32],
      pad: [56, 8],
    });
    expectDisjoint(blkif_x86_32_request_indirect, Object.keys(blkif_x86_32_request_indirect));
  });

  it("has the x86_32 other-operation view at 12 bytes and the response at 12", () => {
    expectLayout(blkif_x86_32_request_other, BLKIF_X86_32_REQUEST_OTHER_SIZE, 12, {
      operation: [0, 1],
      id: [4, 8],
    });
    expectLayout(blkif_x86_32_response, BLKIF_X86_32_RESPONSE_SIZE, 12, {
      id: [0, 8],
      operation: [8, 1],
      status: [10, 2],
    });
  });

  it("makes the x86_32 sring entry 108 bytes and a one-page ring 32 entries", () => {
    expect(BLKIF_X86_32_SRING_ENTRY_SIZE).toBe(108);
    expect(__RING_SIZE(4096, BLKIF_X86_32_SRING_ENTRY_SIZE)).toBe(32); // __RD32(37)
    expect(__RING_SIZE(4096 << 4, BLKIF_X86_32_SRING_ENTRY_SIZE)).toBe(512); // __RD32(606)
  });
});

describe("blkif constants", () => {
  it("has Xen's operation, status, VDISK and limit values", () => {
    expect(BLKIF_OP).toStrictEqual({
      BLKIF_OP_READ: 0,
      BLKIF_OP_WRITE: 1,
      BLKIF_OP_WRITE_BARRIER: 2,
      BLKIF_OP_FLUSH_DISKCACHE: 3,
      BLKIF_OP_RESERVED_1: 4,
      BLKIF_OP_DISCARD: 5,
      BLKIF_OP_INDIRECT: 6,
    });
    expect(BLKIF_RSP).toStrictEqual({
      BLKIF_RSP_EOPNOTSUPP: -2,
      BLKIF_RSP_ERROR: -1,
      BLKIF_RSP_OKAY: 0,
    });
    expect(VDISK).toStrictEqual({ VDISK_CDROM: 1, VDISK_REMOVABLE: 2, VDISK_READONLY: 4 });
    expect([
      BLKIF_DISCARD_SECURE,
      BLKIF_MAX_SEGMENTS_PER_REQUEST,
      BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
    ]).toStrictEqual([1, 11, 8]);
    expect(SEGS_PER_INDIRECT_FRAME).toBe(4096 / 8);
    expect([XEN_IO_PROTO_ABI_X86_64, XEN_IO_PROTO_ABI_X86_32]).toStrictEqual([
      "x86_64-abi",
      "x86_32-abi",
    ]);
  });
});

/** Writes `values` through `layout` into a zeroed buffer of `size` bytes. */
function encode(layout: Layout, size: number, values: Record<string, number>): Uint8Array {
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  for (const [k, v] of Object.entries(values)) writeField(dv, 0, layout[k]!, v);
  return buf;
}

describe("blkif golden bytes", () => {
  it("puts a read request's header fields little-endian where C does, on both ABIs", () => {
    const fields = {
      operation: 0,
      nr_segments: 3,
      handle: 0x0a0b,
      id: 0x0011_2233_4455_6677,
      sector_number: 0x0102_0304_0506,
    };
    // prettier-ignore
    expect(encode(blkif_request, 24, fields)).toStrictEqual(
      bytes(
        0x00,
        0x03,
        0x0b,
        0x0a,
        0,
        0,
        0,
        0,
        0x77,
        0x66,
        0x55,
        0x44,
        0x33,
        0x22,
        0x11,
        0x00,
        0x06,
        0x05,
        0x04,
        0x03,
        0x02,
        0x01,
        0x00,
        0x00,
      ),
    );
    // prettier-ignore
    expect(encode(blkif_x86_32_request, 20, fields)).toStrictEqual(
      bytes(
        0x00,
        0x03,
        0x0b,
        0x0a,
        0x77,
        0x66,
        0x55,
        0x44,
        0x33,
        0x22,
        0x11,
        0x00,
        0x06,
        0x05,
        0x04,
        0x03,
        0x02,
        0x01,
        0x00,
        0x00,
      ),
    );
  });

  it("encodes a segment as gref, first_sect, last_sect and two zero bytes", () => {
    expect(
      encode(blkif_request_segment, 8, { gref: 0xdeadbeef, first_sect: 1, last_sect: 7 }),
    ).toStrictEqual(bytes(0xef, 0xbe, 0xad, 0xde, 0x01, 0x07, 0x00, 0x00));
  });

  it("puts the x86_64 indirect's handle at 24 and its grefs at 28", () => {
    const b = encode(blkif_request_indirect, 64, {
      operation: 6,
      indirect_op: 1,
      nr_segments: 0x0201,
      handle: 0x0051,
    });
    writeField(new DataView(b.buffer), 28, [0, 4], 0x11223344);
    expect([...b.subarray(0, 4)]).toStrictEqual([6, 1, 0x01, 0x02]);
    expect([...b.subarray(24, 32)]).toStrictEqual([0x51, 0x00, 0, 0, 0x44, 0x33, 0x22, 0x11]);
  });

  it("reads a response status of -2 as two's complement at offset 10", () => {
    const b = bytes(1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0xfe, 0xff, 0, 0, 0, 0);
    expect(readSignedField(new DataView(b.buffer), 0, blkif_response.status)).toBe(
      BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP,
    );
  });
});
