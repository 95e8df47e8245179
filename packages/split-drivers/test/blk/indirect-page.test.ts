// Indirect pages (io/blkif.h BLKIF_OP_INDIRECT): 512 8-byte struct blkif_request_segment per
// 4 KiB page; segment n is entry n % 512 of page n / 512. Checked as Linux's
// xen_blkbk_parse_indirect checks them: last_sect >= 8 or < first_sect fails the request.
import { describe, expect, it } from "vitest";
import { BLKIF_RSP } from "@pvkit/hypervisor-sim/abi";
import {
  type BlkifSegment,
  INDIRECT_PAGE_SIZE,
  decodeIndirectSegments,
  encodeIndirectSegments,
} from "@pvkit/split-drivers";

const segs = (n: number): BlkifSegment[] =>
  Array.from({ length: n }, (_, i) => ({ gref: 0x1000 + i, first_sect: i % 8, last_sect: 7 }));

describe("indirect pages", () => {
  it("lays 513 segments over two 4096-byte pages (golden bytes)", () => {
    const pages = encodeIndirectSegments(segs(513));
    expect(pages.map((p) => p.length)).toStrictEqual([4096, 4096]);
    expect([...pages[0]!.subarray(0, 16)]).toStrictEqual([
      0x00, 0x10, 0, 0, 0, 7, 0, 0, 0x01, 0x10, 0, 0, 1, 7, 0, 0,
    ]);
    expect([...pages[0]!.subarray(4088, 4096)]).toStrictEqual([0xff, 0x11, 0, 0, 7, 7, 0, 0]); // segment 511
    expect([...pages[1]!.subarray(0, 8)]).toStrictEqual([0x00, 0x12, 0, 0, 0, 7, 0, 0]); // segment 512
    expect(pages[1]!.subarray(8).every((b) => b === 0)).toBe(true);
  });

  it("gives back the segments it laid out, for 1, 512, 513 and 4096 segments", () => {
    for (const n of [1, 512, 513, 4096])
      expect(decodeIndirectSegments(encodeIndirectSegments(segs(n)), n)).toStrictEqual({
        ok: true,
        segments: segs(n),
      });
    expect(INDIRECT_PAGE_SIZE).toBe(4096);
  });

  it("reports the first bad segment by its index over the whole request", () => {
    const bad = segs(700);
    bad[600] = { gref: 1, first_sect: 0, last_sect: 8 };
    bad[650] = { gref: 1, first_sect: 5, last_sect: 4 };
    expect(decodeIndirectSegments(encodeIndirectSegments(bad), 700)).toStrictEqual({
      ok: false,
      problem: {
        reason: "bad-segment",
        status: BLKIF_RSP.BLKIF_RSP_ERROR,
        index: 600,
        first_sect: 0,
        last_sect: 8,
      },
    });
    bad[600] = segs(601)[600]!;
    expect(decodeIndirectSegments(encodeIndirectSegments(bad), 700)).toMatchObject({
      ok: false,
      problem: { index: 650, first_sect: 5, last_sect: 4 },
    });
  });

  it("ignores entries past nr_segments, as Linux does", () => {
    const pages = encodeIndirectSegments(segs(512));
    pages[0]!.fill(0xff, 8 * 10); // garbage after segment 9
    expect(decodeIndirectSegments(pages, 10)).toStrictEqual({ ok: true, segments: segs(10) });
  });

  it("keeps decoded segments when the page is rewritten afterwards (XSA-155: values, not views)", () => {
    const pages = encodeIndirectSegments(segs(3));
    const got = decodeIndirectSegments(pages, 3);
    pages[0]!.fill(0xee);
    expect(got).toStrictEqual({ ok: true, segments: segs(3) });
  });

  it("throws RangeError for a page count or page size that does not fit nr_segments (a driver bug)", () => {
    const two = encodeIndirectSegments(segs(513));
    expect(() => decodeIndirectSegments(two, 512)).toThrow(/need 1 indirect pages, got 2/);
    expect(() => decodeIndirectSegments([two[0]!], 513)).toThrow(RangeError);
    expect(() => decodeIndirectSegments([new Uint8Array(4095)], 1)).toThrow(/4095 bytes/);
    expect(() => decodeIndirectSegments([], 4097)).toThrow(RangeError);
    expect(() => encodeIndirectSegments(segs(4097))).toThrow(RangeError);
    expect(() => encodeIndirectSegments([{ gref: 2 ** 32, first_sect: 0, last_sect: 0 }])).toThrow(
      /gref/,
    );
  });
});
