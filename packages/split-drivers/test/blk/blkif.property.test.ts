// Property tests of the blkif codecs, both protocols: every request and response the encoder
// accepts decodes to itself, and arbitrary entry bytes decode and validate without throwing.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EntryBuffer } from "@pvkit/guest-sdk/wire";
import {
  type BlkifRequest,
  type BlkifResponse,
  BLKIF_PROTOCOLS,
  blkifWire,
  decodeBlkifRequest,
  decodeBlkifResponse,
  encodeBlkifRequest,
  encodeBlkifResponse,
  indirectPageCount,
  validateBlkifRequest,
} from "@pvkit/split-drivers";

const id = fc.oneof(fc.maxSafeNat(), fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }));
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const sectors = fc.maxSafeNat();
// fc.record builds null-prototype objects; spread them into plain ones for toStrictEqual.
const segment = fc.record({ gref: u32, first_sect: u8, last_sect: u8 }).map((s) => ({ ...s }));

const rw: fc.Arbitrary<BlkifRequest> = fc
  .record({
    operation: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
    nr_segments: u8,
    handle: u16,
    id,
    sector_number: sectors,
    segs: fc.array(segment, { minLength: 11, maxLength: 11 }),
  })
  .map(({ segs, ...r }) => ({ kind: "rw", ...r, seg: segs.slice(0, Math.min(r.nr_segments, 11)) }));
const discard: fc.Arbitrary<BlkifRequest> = fc
  .record({ flag: u8, handle: u16, id, sector_number: sectors, nr_sectors: sectors })
  .map((r) => ({ kind: "discard", operation: 5, ...r }));
const indirect: fc.Arbitrary<BlkifRequest> = fc
  .record({
    indirect_op: u8,
    nr_segments: u16,
    handle: u16,
    id,
    sector_number: sectors,
    grefs: fc.array(u32, { minLength: 8, maxLength: 8 }),
  })
  .map(({ grefs, ...r }) => ({
    kind: "indirect",
    operation: 6,
    ...r,
    indirect_grefs: grefs.slice(0, indirectPageCount(r.nr_segments)),
  }));
const other: fc.Arbitrary<BlkifRequest> = fc
  .record({ operation: fc.oneof(fc.constant(4), fc.integer({ min: 7, max: 255 })), id })
  .map((r) => ({ kind: "other", ...r }));
const request = fc.oneof(rw, discard, indirect, other);
const response: fc.Arbitrary<BlkifResponse> = fc
  .record({ id, operation: u8, status: fc.integer({ min: -0x8000, max: 0x7fff }) })
  .map((r) => ({ ...r }));

describe("blkif codec properties", () => {
  for (const protocol of BLKIF_PROTOCOLS) {
    const wire = blkifWire(protocol);

    it(`decodes every encoded request to itself (${protocol})`, () => {
      fc.assert(
        fc.property(request, (req) => {
          const buf = new EntryBuffer(new Uint8Array(wire.requestSize));
          encodeBlkifRequest(req, buf, wire);
          expect(decodeBlkifRequest(buf, wire)).toStrictEqual(req);
        }),
        { numRuns: 2000 },
      );
    });

    it(`decodes every encoded response to itself, whatever the slot held (${protocol})`, () => {
      fc.assert(
        fc.property(response, u8, (rsp, fill) => {
          const buf = new EntryBuffer(new Uint8Array(wire.responseSize).fill(fill));
          encodeBlkifResponse(rsp, buf, wire);
          expect(decodeBlkifResponse(buf, wire)).toStrictEqual(rsp);
          // every padding byte is zero, whatever was there
          const pads = protocol === "x86_64-abi" ? [9, 12, 13, 14, 15] : [9];
          expect(pads.map((i) => buf.bytes[i])).toStrictEqual(pads.map(() => 0));
        }),
        { numRuns: 1000 },
      );
    });

    it(`decodes and validates arbitrary entry bytes without throwing (${protocol})`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: wire.requestSize, maxLength: wire.requestSize }),
          (bytes) => {
            const req = decodeBlkifRequest(new EntryBuffer(bytes), wire);
            const problem = validateBlkifRequest(req);
            if (req.kind === "other") expect(problem?.reason).toBe("unsupported-operation");
            else if (problem === undefined && req.kind === "rw")
              expect(req.seg.length).toBe(req.nr_segments);
          },
        ),
        { numRuns: 2000 },
      );
    });
  }
});
