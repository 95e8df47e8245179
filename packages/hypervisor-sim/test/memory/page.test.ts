import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DeadMappingError, Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import { grant, map, MAP_GFN, unmap, world } from "../gnttab/helpers.js";

function page(): Page {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  return hv.guest(0).memory.writablePage(3);
}

describe("Page.fill", () => {
  it("fills exactly [offset, offset + length) with the value, for short and long ranges", () => {
    const p = page();
    const model = Uint8Array.from({ length: 4096 }, (_, i) => (i * 13 + 5) & 0xff);
    p.write(0, model);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 0, max: 600 }),
        fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })),
        (offset, want, value) => {
          const length = Math.min(want, 4096 - offset);
          p.fill(value, offset, length);
          model.fill(value, offset, offset + length);
          expect(p.read(0, 4096)).toEqual(model);
        },
      ),
    );
  });

  it("rejects a range outside the page or a value that is not a byte, writing nothing", () => {
    const p = page();
    p.fill(0x5a);
    expect(() => p.fill(0, 4090, 7)).toThrow(RangeError);
    expect(() => p.fill(256, 0, 8)).toThrow(RangeError);
    expect(() => p.fill(-1, 0, 8)).toThrow(RangeError);
    expect([...p.read(4088, 8)]).toEqual(new Array(8).fill(0x5a));
    expect([...p.read(0, 8)]).toEqual(new Array(8).fill(0x5a));
  });
});

describe("Page.readInto", () => {
  it("copies exactly the range for any offsets, lengths and destination offsets", () => {
    const p = page();
    const src = Uint8Array.from({ length: 4096 }, (_, i) => (i * 29 + 3) & 0xff);
    p.write(0, src);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.integer({ min: 0, max: 700 }),
        fc.nat({ max: 100 }),
        (offset, want, destOffset) => {
          const length = Math.min(want, 4096 - offset);
          const dest = new Uint8Array(1024).fill(0xee);
          p.readInto(offset, dest, destOffset, length);
          const expected = new Uint8Array(1024).fill(0xee);
          expected.set(src.subarray(offset, offset + length), destOffset);
          expect(dest).toEqual(expected);
        },
      ),
    );
  });
});

describe("Page.readWords", () => {
  it("copies exactly the words asked for, every bit pattern unchanged", () => {
    const p = page();
    const patterns = fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), {
      minLength: 512,
      maxLength: 512,
    });
    fc.assert(
      fc.property(
        patterns,
        fc.nat({ max: 511 }),
        fc.nat({ max: 64 }),
        fc.nat({ max: 16 }),
        (words, first, want, destIndex) => {
          const bytes = new Uint8Array(BigInt64Array.from(words).buffer);
          p.write(0, bytes);
          const count = Math.min(want, 512 - first);
          const dest = new BigInt64Array(100).fill(-1n);
          p.readWords(8 * first, dest, destIndex, count);
          const expected = new BigInt64Array(100).fill(-1n);
          expected.set(BigInt64Array.from(words).subarray(first, first + count), destIndex);
          expect(dest).toEqual(expected);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("rejects an unaligned offset, a range outside the page or the destination, copying nothing", () => {
    const p = page();
    p.fill(0x11);
    const dest = new BigInt64Array(8);
    expect(() => p.readWords(4, dest, 0, 1)).toThrow(/not a multiple of 8/);
    expect(() => p.readWords(4088, dest, 0, 2)).toThrow(RangeError);
    expect(() => p.readWords(0, dest, 6, 3)).toThrow(/outside the destination/);
    expect(() => p.readWords(0, dest, -1, 1)).toThrow(RangeError);
    expect(() => p.readWords(0, dest, 0.5, 1)).toThrow(RangeError);
    expect([...dest]).toEqual(new Array(8).fill(0n));
  });

  it("throws DeadMappingError through an unmapped view", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    const h = map(hv, b.domid, a.domid, 8).handle!;
    const view = hv.guest(b.domid).memory.page(MAP_GFN);
    const dest = new BigInt64Array(14);
    view.readWords(64, dest, 0, 14);
    unmap(hv, b.domid, h);
    expect(() => view.readWords(64, dest, 0, 14)).toThrow(DeadMappingError);
  });
});
