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

describe("Page.readInto word copies", () => {
  it("copies exactly the range for any offsets, lengths and destination alignment", () => {
    const p = page();
    const src = Uint8Array.from({ length: 4096 }, (_, i) => (i * 29 + 3) & 0xff);
    p.write(0, src);
    const buffer = new ArrayBuffer(8192 + 16);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 511 }),
        fc.integer({ min: 0, max: 90 }),
        fc.integer({ min: 0, max: 2 }),
        fc.constantFrom(0, 1, 4, 8),
        fc.boolean(),
        (word, words, misalign, destBase, aligned) => {
          const offset = Math.min(word * 8 + (aligned ? 0 : misalign), 4096);
          const length = Math.min(words * 8, 4096 - offset);
          const dest = new Uint8Array(buffer, destBase, 8192);
          const destOffset = aligned ? 8 * (word % 64) : 8 * (word % 64) + misalign;
          dest.fill(0xee);
          p.readInto(offset, dest, destOffset, length);
          const want = new Uint8Array(8192).fill(0xee);
          want.set(src.subarray(offset, offset + length), destOffset);
          expect(dest).toEqual(want);
        },
      ),
    );
  });

  it("copies NaN, infinite, negative-zero and subnormal bit patterns byte for byte", () => {
    const p = page();
    const patterns = [
      [0x7ff00000, 0x00000001], // signalling NaN
      [0xfff80000, 0x12345678], // quiet NaN with a payload
      [0x7ff7ffff, 0xffffffff],
      [0x7ff00000, 0x00000000], // +Infinity
      [0x80000000, 0x00000000], // -0
      [0x00000000, 0x00000001], // smallest subnormal
      [0xffffffff, 0xffffffff],
    ];
    const bytes = new Uint8Array(4096);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < 512; i++) {
      const [hi, lo] = patterns[i % patterns.length]!;
      dv.setUint32(i * 8, lo!, true);
      dv.setUint32(i * 8 + 4, hi!, true);
    }
    p.write(0, bytes);
    for (const length of [112, 8 * patterns.length, 512]) {
      const out = new Uint8Array(1024);
      p.readInto(64, out, 16, length);
      expect(out.subarray(16, 16 + length)).toEqual(bytes.subarray(64, 64 + length));
    }
  });

  it("keeps each slab's bytes when copies alternate between destinations", () => {
    const p = page();
    const src = Uint8Array.from({ length: 4096 }, (_, i) => (i * 11) & 0xff);
    p.write(0, src);
    const a = new Uint8Array(224);
    const b = new Uint8Array(224);
    p.readInto(64, a, 0, 112);
    p.readInto(176, b, 0, 112);
    p.readInto(288, a, 112, 112);
    p.readInto(400, b, 112, 112);
    expect(a).toEqual(Uint8Array.from([...src.subarray(64, 176), ...src.subarray(288, 400)]));
    expect(b).toEqual(Uint8Array.from([...src.subarray(176, 288), ...src.subarray(400, 512)]));
  });

  it("throws DeadMappingError for an aligned copy through an unmapped view", () => {
    const { hv, a, b } = world();
    grant(hv, a.domid, 8, b.domid, 5);
    const h = map(hv, b.domid, a.domid, 8).handle!;
    const view = hv.guest(b.domid).memory.page(MAP_GFN);
    const slab = new Uint8Array(1024);
    view.readInto(64, slab, 0, 112); // primes the word path with this destination
    unmap(hv, b.domid, h);
    expect(() => view.readInto(64, slab, 112, 112)).toThrow(DeadMappingError);
  });
});
