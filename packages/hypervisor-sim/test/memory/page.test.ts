import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Hypervisor, type Page } from "@pvkit/hypervisor-sim";

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
