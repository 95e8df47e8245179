// Expected numbers: xen/include/public/io/console.h (Xen 4.17): char in[1024], char out[2048],
// then four XENCONS_RING_IDX (u32) counters; sizeof(struct xencons_interface) = 3088.
import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import {
  MASK_XENCONS_IDX,
  XENCONS_INTERFACE_SIZE,
  XENCONS_IN_SIZE,
  XENCONS_OUT_SIZE,
  xencons_interface,
} from "@pvkit/hypervisor-sim/abi";
import { expectDisjoint, expectLayout } from "../expect-layout.js";

describe("xencons_interface (io/console.h)", () => {
  it("has the 3088-byte layout of io/console.h", () => {
    expectLayout(xencons_interface, XENCONS_INTERFACE_SIZE, 3088, {
      in: [0, 1024],
      out: [1024, 2048],
      in_cons: [3072, 4],
      in_prod: [3076, 4],
      out_cons: [3080, 4],
      out_prod: [3084, 4],
    });
    expectDisjoint(xencons_interface, Object.keys(xencons_interface));
    expect([XENCONS_IN_SIZE, XENCONS_OUT_SIZE]).toStrictEqual([1024, 2048]);
  });

  it("masks free-running indices with sizeof(ring) - 1, across the 2^32 wrap", () => {
    expect(MASK_XENCONS_IDX(1023, XENCONS_IN_SIZE)).toBe(1023);
    expect(MASK_XENCONS_IDX(1024, XENCONS_IN_SIZE)).toBe(0);
    expect(MASK_XENCONS_IDX(2049, XENCONS_OUT_SIZE)).toBe(1);
    expect(MASK_XENCONS_IDX(0xffff_ffff, XENCONS_OUT_SIZE)).toBe(2047);
    expect(MASK_XENCONS_IDX(0x8000_0001, XENCONS_IN_SIZE)).toBe(1);
  });

  it("puts the counters little-endian at their offsets in the ring page (golden bytes)", () => {
    const hv = new Hypervisor({ mode: "manual" });
    const d = hv.createDomain({ nrPages: 4 });
    const page = hv.guest(d.domid).memory.writablePage(1);
    page.setU32(xencons_interface.in_cons[0], 0x04030201);
    page.setU32(xencons_interface.in_prod[0], 0x08070605);
    page.setU32(xencons_interface.out_cons[0], 0x0c0b0a09);
    page.setU32(xencons_interface.out_prod[0], 0x100f0e0d);
    const tail = new Uint8Array(16);
    page.readInto(3072, tail, 0, 16);
    expect([...tail]).toStrictEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  });
});
