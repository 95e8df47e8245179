/**
 * Producers encode in place into the unpublished slot (src/ring/slot-writer.ts) when the entry
 * lies inside one page, and through a private buffer (EntryBuffer) when it straddles two pages.
 * These tests pin down that the two writers are indistinguishable to a codec: same bytes, same
 * read-back values, same errors.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FrontRing, type EntryWriter, type RingCodec, type RingSpec } from "@pvkit/guest-sdk";
import { makePages, testSpec } from "./helpers.js";

/** Every field type, written then read back by the codec itself. */
interface AllFields {
  u8: number;
  s8: number;
  u16: number;
  s16: number;
  u32: number;
  s32: number;
  u64: number;
  tail: Uint8Array;
}

const SIZE = 40; // 64 + k * 40 crosses the page boundary of a two-page ring at k = 100
const readBacks: unknown[][] = [];
const allFields: RingCodec<AllFields> = {
  size: SIZE,
  encode: (v, out: EntryWriter) => {
    out.setU8(0, v.u8);
    out.setS8(1, v.s8);
    out.setU16(2, v.u16);
    out.setS16(4, v.s16);
    out.setU32(8, v.u32);
    out.setS32(12, v.s32);
    out.setU64(16, v.u64);
    out.write(24, v.tail);
    readBacks.push([
      out.getU8(0),
      out.getS8(1),
      out.getU16(2),
      out.getS16(4),
      out.getU32(8),
      out.getS32(12),
      out.getU64(16),
      [...out.read(24, 16)],
      out.size,
    ]);
  },
  decode: () => {
    throw new Error("not consumed here");
  },
};

const fieldsArb = fc.record({
  u8: fc.integer({ min: 0, max: 0xff }),
  s8: fc.integer({ min: -0x80, max: 0x7f }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  s16: fc.integer({ min: -0x8000, max: 0x7fff }),
  u32: fc.integer({ min: 0, max: 0xffffffff }),
  s32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  u64: fc.maxSafeNat(),
  tail: fc.uint8Array({ minLength: 16, maxLength: 16 }),
});

describe("in-place encoding", () => {
  it("writes the same bytes and reads back the same values in one page as across two", () => {
    const spec: RingSpec<AllFields, { id: number }> = {
      request: allFields,
      response: testSpec(8, 8).response,
    };
    const pages = makePages(2);
    const front = FrontRing.init(pages, spec);
    const slotOf = (idx: number): number => 64 + (idx & (front.size - 1)) * SIZE;
    fc.assert(
      fc.property(fieldsArb, fc.constantFrom(0, 100), (v, idx) => {
        // Produce the same value into slot `idx` (inside page 0, or straddling pages 0 and 1).
        const ring = FrontRing.attach(pages, spec, idx);
        readBacks.length = 0;
        ring.produceRequest(v);
        const at = slotOf(idx);
        const bytes = new Uint8Array(SIZE);
        for (let i = 0; i < SIZE; i++) bytes[i] = pages[(at + i) >> 12]!.getU8((at + i) & 4095);
        const dv = new DataView(bytes.buffer);
        expect([
          dv.getUint8(0),
          dv.getInt8(1),
          dv.getUint16(2, true),
          dv.getInt16(4, true),
          dv.getUint16(6, true),
          dv.getUint32(8, true),
          dv.getInt32(12, true),
          Number(dv.getBigUint64(16, true)),
        ]).toEqual([v.u8, v.s8, v.u16, v.s16, 0, v.u32, v.s32, v.u64]);
        expect(bytes.subarray(24)).toEqual(v.tail);
        expect(readBacks).toEqual([
          [v.u8, v.s8, v.u16, v.s16, v.u32, v.s32, v.u64, [...v.tail], SIZE],
        ]);
      }),
    );
    expect(slotOf(100) + SIZE).toBeGreaterThan(4096); // the second slot really straddles
    expect(slotOf(100)).toBeLessThan(4096);
  });

  it("rejects the same out-of-range values and offsets with the same errors in both writers", () => {
    const bad: [string, (out: EntryWriter) => void][] = [
      ["u8 256", (o) => o.setU8(0, 256)],
      ["s8 128", (o) => o.setS8(0, 128)],
      ["s16 -32769", (o) => o.setS16(0, -32769)],
      ["u32 -1", (o) => o.setU32(0, -1)],
      ["s32 2^31", (o) => o.setS32(0, 2 ** 31)],
      ["u64 1.5", (o) => o.setU64(0, 1.5)],
      ["u32 at 38", (o) => o.setU32(38, 1)],
      ["write past the end", (o) => o.write(30, new Uint8Array(11))],
      ["read past the end", (o) => o.read(39, 2)],
    ];
    for (const [what, encode] of bad) {
      const spec: RingSpec<number, { id: number }> = {
        request: { size: SIZE, encode: (_v, out) => encode(out), decode: () => 0 },
        response: testSpec(8, 8).response,
      };
      const pages = makePages(2);
      const messages = [0, 100].map((idx) => {
        const ring = FrontRing.attach(pages, spec, idx);
        try {
          ring.produceRequest(0);
        } catch (e) {
          expect(e, what).toBeInstanceOf(RangeError);
          expect(ring.reqProdPvt, what).toBe(idx); // nothing produced
          return (e as Error).message;
        }
        return "no error";
      });
      expect(messages[0], what).not.toBe("no error");
      expect(messages[0], what).toBe(messages[1]);
    }
  });
});
