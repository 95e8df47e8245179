import { describe, expect, it } from "vitest";
import { readField, readSignedField, writeField, type FieldSpec } from "@pvkit/hypervisor-sim/abi";

const U8: FieldSpec = [1, 1];
const U16: FieldSpec = [2, 2];
const U32: FieldSpec = [4, 4];
const U64: FieldSpec = [8, 8];

function fresh(len = 16): { buf: Uint8Array; dv: DataView } {
  const buf = new Uint8Array(len);
  return { buf, dv: new DataView(buf.buffer) };
}

describe("writeField / readField", () => {
  it("writes each width little-endian at base + offset", () => {
    const { buf, dv } = fresh(24);
    writeField(dv, 0, U8, 0xab);
    writeField(dv, 0, U16, 0x1234);
    writeField(dv, 0, U32, 0xdeadbeef);
    writeField(dv, 0, U64, 0x0011_2233_4455_6677);
    writeField(dv, 16, U16, 0xbeef); // base 16 + offset 2
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0x00, 0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
        0x00, 0x00, 0x00, 0xef, 0xbe, 0x00, 0x00, 0x00, 0x00,
      ]),
    );
  });

  it("reads back what it wrote at the extremes of each width", () => {
    const { dv } = fresh();
    for (const [spec, max] of [
      [U8, 0xff],
      [U16, 0xffff],
      [U32, 0xffff_ffff],
      [U64, Number.MAX_SAFE_INTEGER],
    ] as const) {
      writeField(dv, 0, spec, max);
      expect(readField(dv, 0, spec)).toBe(max);
      writeField(dv, 0, spec, 0);
      expect(readField(dv, 0, spec)).toBe(0);
    }
  });

  it("reads hand-built little-endian bytes", () => {
    const buf = Uint8Array.from([
      0, 0x80, 0x01, 0x02, 0x10, 0x20, 0x30, 0x40, 1, 0, 0, 0, 0, 0, 0x1f, 0,
    ]);
    const dv = new DataView(buf.buffer);
    expect(readField(dv, 0, U8)).toBe(0x80);
    expect(readField(dv, 0, U16)).toBe(0x0201);
    expect(readField(dv, 0, U32)).toBe(0x40302010);
    expect(readField(dv, 0, U64)).toBe(0x1f * 2 ** 48 + 1);
  });

  it.each([
    ["a u8 above 255", U8, 256],
    ["a u16 above 65535", U16, 0x1_0000],
    ["a u32 above 2^32 - 1", U32, 2 ** 32],
    ["a u64 at 2^53", U64, 2 ** 53],
    ["a u64 far above 2^53", U64, 2 ** 64],
    ["a negative value", U32, -1],
    ["a negative fraction", U16, -0.5],
    ["a non-integer", U32, 1.5],
    ["NaN", U8, Number.NaN],
    ["Infinity", U64, Number.POSITIVE_INFINITY],
  ])("throws RangeError and writes nothing when given %s", (_what, spec, value) => {
    const { buf, dv } = fresh();
    buf.fill(0x5a);
    expect(() => writeField(dv, 0, spec, value)).toThrow(RangeError);
    expect(buf.every((b) => b === 0x5a)).toBe(true);
  });

  it("throws RangeError when reading a u64 above 2^53 - 1", () => {
    const { dv } = fresh();
    dv.setBigUint64(8, 2n ** 53n, true);
    expect(() => readField(dv, 0, U64)).toThrow(RangeError);
    dv.setBigUint64(8, 2n ** 53n - 1n, true);
    expect(readField(dv, 0, U64)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("throws RangeError when the field is not a scalar width", () => {
    const { dv } = fresh(64);
    for (const spec of [
      [0, 3],
      [0, 7],
      [0, 32],
    ] as FieldSpec[]) {
      expect(() => readField(dv, 0, spec)).toThrow(RangeError);
      expect(() => writeField(dv, 0, spec, 1)).toThrow(RangeError);
    }
  });

  it("throws RangeError when the field runs past the end of the view", () => {
    const { dv } = fresh(8);
    expect(() => writeField(dv, 4, U32, 1)).toThrow(RangeError); // bytes 8..11
    expect(() => readField(dv, 0, U64)).toThrow(RangeError); // bytes 8..15
  });
});

describe("readSignedField", () => {
  it("reads two's-complement s8, s16 and s32 little-endian", () => {
    const buf = Uint8Array.from([0xf3, 0xff, 0xfe, 0x80, 0xff, 0xff, 0xff, 0x7f]);
    const dv = new DataView(buf.buffer);
    expect(readSignedField(dv, 0, [0, 2])).toBe(-13); // GNTST_no_space as written by Xen
    expect(readSignedField(dv, 0, [2, 1])).toBe(-2);
    expect(readSignedField(dv, 0, [3, 1])).toBe(-128);
    expect(readSignedField(dv, 0, [4, 4])).toBe(0x7fffffff);
  });

  it("reads back a negative status stored as its u16 pattern", () => {
    const { dv } = fresh();
    writeField(dv, 0, U16, 0x10000 - 8); // GNTST_permission_denied
    expect(readSignedField(dv, 0, U16)).toBe(-8);
    expect(readField(dv, 0, U16)).toBe(0xfff8);
  });
});
