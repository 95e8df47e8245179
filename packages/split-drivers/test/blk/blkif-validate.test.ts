// The checks of Linux blkback (blkback.c: __do_block_io_op, dispatch_rw_block_io,
// dispatch_other_io), each from raw entry bytes through decode to a typed problem.
import { describe, expect, it } from "vitest";
import { BLKIF_OP, BLKIF_RSP } from "@pvkit/hypervisor-sim/abi";
import {
  type BlkifRequest,
  BLKIF_MAX_INDIRECT_SEGMENTS,
  BLKIF_PROTOCOLS,
  blkifResponseOperation,
  describeBlkifProblem,
  validateBlkifRequest,
} from "@pvkit/split-drivers";
import { decodeBytes, golden, requestBytes } from "./helpers.js";

const ERROR = BLKIF_RSP.BLKIF_RSP_ERROR;
const seg = (first_sect: number, last_sect: number) => ({ gref: 5, first_sect, last_sect });
const rw = (
  operation: 0 | 1 | 2 | 3,
  segs: ReturnType<typeof seg>[],
  nr_segments = segs.length,
): BlkifRequest => ({
  kind: "rw",
  operation,
  nr_segments,
  handle: 0,
  id: 11,
  sector_number: 0,
  seg: segs,
});
const indirect = (indirect_op: number, nr_segments: number): BlkifRequest => ({
  kind: "indirect",
  operation: BLKIF_OP.BLKIF_OP_INDIRECT,
  indirect_op,
  nr_segments,
  handle: 0,
  id: 12,
  sector_number: 0,
  indirect_grefs: new Array(Math.min(8, Math.ceil(nr_segments / 512))).fill(1),
});

describe("validateBlkifRequest", () => {
  for (const protocol of BLKIF_PROTOCOLS) {
    /** Encodes (possibly hostile) `req`, decodes the bytes as a backend would, validates. */
    const check = (req: BlkifRequest, limits?: { maxIndirectSegments: number }) =>
      validateBlkifRequest(decodeBytes(requestBytes(req, protocol), protocol), limits);

    describe(protocol, () => {
      it("passes reads and writes of 1..11 segments, and barrier and flush of 0..11", () => {
        for (const op of [0, 1] as const)
          for (const n of [1, 11]) expect(check(rw(op, Array(n).fill(seg(0, 7))))).toBeUndefined();
        for (const op of [2, 3] as const)
          for (const n of [0, 11]) expect(check(rw(op, Array(n).fill(seg(7, 7))))).toBeUndefined();
      });

      it("reports bad-nr-segments when a read or write has 0 segments", () => {
        expect(check(rw(0, []))).toStrictEqual({
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: 0,
          min: 1,
          max: 11,
        });
        expect(check(rw(1, []))).toStrictEqual({
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: 0,
          min: 1,
          max: 11,
        });
      });

      it("reports bad-nr-segments when a direct request claims more than 11", () => {
        const eleven = Array(11).fill(seg(0, 7));
        expect(check(rw(1, eleven, 12))).toStrictEqual({
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: 12,
          min: 1,
          max: 11,
        });
        expect(check(rw(3, eleven, 255))).toStrictEqual({
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: 255,
          min: 0,
          max: 11,
        });
      });

      it("reports bad-segment when last_sect >= 8 or last_sect < first_sect", () => {
        expect(check(rw(0, [seg(0, 7), seg(0, 8)]))).toStrictEqual({
          reason: "bad-segment",
          status: ERROR,
          index: 1,
          first_sect: 0,
          last_sect: 8,
        });
        expect(check(rw(1, [seg(4, 3)]))).toStrictEqual({
          reason: "bad-segment",
          status: ERROR,
          index: 0,
          first_sect: 4,
          last_sect: 3,
        });
        expect(check(rw(2, [seg(255, 255)]))).toMatchObject({ reason: "bad-segment", index: 0 });
      });

      it("checks the segment count before the segments", () => {
        expect(check(rw(1, Array(11).fill(seg(9, 9)), 12))).toMatchObject({
          reason: "bad-nr-segments",
        });
      });

      it("reports bad-indirect-op when indirect_op is not READ or WRITE, before the segment count", () => {
        for (const op of [2, 3, 5, 6, 200])
          expect(check(indirect(op, 1))).toStrictEqual({
            reason: "bad-indirect-op",
            status: ERROR,
            indirect_op: op,
          });
        expect(check(indirect(3, 0))).toMatchObject({ reason: "bad-indirect-op" });
      });

      it("reports bad-nr-segments for an indirect request of 0 or more than the maximum", () => {
        expect(check(indirect(0, 0))).toStrictEqual({
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: 0,
          min: 1,
          max: 4096,
        });
        expect(check(indirect(1, 4096))).toBeUndefined();
        expect(check(indirect(1, 4097))).toStrictEqual({
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: 4097,
          min: 1,
          max: 4096,
        });
        expect(check(indirect(0, 65535))).toMatchObject({
          reason: "bad-nr-segments",
          nr_segments: 65535,
        });
      });

      it("uses the backend's advertised maximum (Linux: 256) when given", () => {
        expect(check(indirect(0, 256), { maxIndirectSegments: 256 })).toBeUndefined();
        expect(check(indirect(0, 257), { maxIndirectSegments: 256 })).toStrictEqual({
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: 257,
          min: 1,
          max: 256,
        });
      });

      it("reports unsupported-operation with EOPNOTSUPP for operations 4 and 7..255", () => {
        for (const op of [4, 7, 255]) {
          expect(check({ kind: "other", operation: op, id: 1 })).toStrictEqual({
            reason: "unsupported-operation",
            status: BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP,
            operation: op,
          });
        }
      });

      it("passes a discard, secure or not", () => {
        for (const flag of [0, 1, 0xfe]) {
          expect(
            check({
              kind: "discard",
              operation: 5,
              flag,
              handle: 0,
              id: 1,
              sector_number: 2 ** 53 - 1,
              nr_sectors: 2 ** 53 - 1,
            }),
          ).toBeUndefined();
        }
      });
    });
  }

  it("reports sector-out-of-range for a u64 sector field of 2^53 or more", () => {
    // x86_64: read of 1 segment with sector_number = 2^53 (byte 22 = 0x20); discard nr_sectors = 2^64 - 1.
    const read = decodeBytes(
      golden(112, [0, 0x00, 0x01], [22, 0x20], [24, 1, 0, 0, 0, 0, 7]),
      "x86_64-abi",
    );
    expect(validateBlkifRequest(read)).toStrictEqual({
      reason: "sector-out-of-range",
      status: ERROR,
      field: "sector_number",
    });
    const discard = decodeBytes(
      golden(108, [0, 0x05], [20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      "x86_32-abi",
    );
    expect(validateBlkifRequest(discard)).toStrictEqual({
      reason: "sector-out-of-range",
      status: ERROR,
      field: "nr_sectors",
    });
    const ind = decodeBytes(
      golden(112, [0, 0x06, 0x00, 0x01], [16, 0, 0, 0, 0, 0, 0, 0, 0x80], [28, 1]),
      "x86_64-abi",
    );
    expect(validateBlkifRequest(ind)).toStrictEqual({
      reason: "sector-out-of-range",
      status: ERROR,
      field: "sector_number",
    });
    expect(
      validateBlkifRequest(
        decodeBytes(
          golden(
            112,
            [0, 0x00, 0x01],
            [16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f],
            [24, 1, 0, 0, 0, 0, 7],
          ),
          "x86_64-abi",
        ),
      ),
    ).toBeUndefined();
  });

  it("throws RangeError for a maximum outside 1..4096 (a driver bug)", () => {
    expect(() => validateBlkifRequest(indirect(0, 1), { maxIndirectSegments: 0 })).toThrow(
      RangeError,
    );
    expect(() =>
      validateBlkifRequest(indirect(0, 1), {
        maxIndirectSegments: BLKIF_MAX_INDIRECT_SEGMENTS + 1,
      }),
    ).toThrow(RangeError);
  });
});

describe("blkifResponseOperation", () => {
  it("answers an indirect request with its indirect_op and others with their operation", () => {
    expect(blkifResponseOperation(indirect(1, 3))).toBe(BLKIF_OP.BLKIF_OP_WRITE);
    expect(blkifResponseOperation(indirect(9, 3))).toBe(9);
    expect(blkifResponseOperation(rw(3, []))).toBe(3);
    expect(blkifResponseOperation({ kind: "other", operation: 200, id: 0 })).toBe(200);
  });
});

describe("describeBlkifProblem", () => {
  it("uses Linux blkback's words where it has them", () => {
    expect(describeBlkifProblem({ reason: "bad-indirect-op", status: ERROR, indirect_op: 3 })).toBe(
      "Invalid indirect operation (3)",
    );
    expect(
      describeBlkifProblem({
        reason: "bad-nr-segments",
        status: ERROR,
        nr_segments: 12,
        min: 1,
        max: 11,
      }),
    ).toBe("Bad number of segments in request (12; allowed 1..11)");
    expect(
      describeBlkifProblem({
        reason: "bad-segment",
        status: ERROR,
        index: 2,
        first_sect: 0,
        last_sect: 8,
      }),
    ).toBe("segment 2: sectors 0..8 outside a 8-sector frame");
  });
});
