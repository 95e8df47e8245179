// Which ring ABI a backend serves for a frontend's `protocol` node: Linux blkback connect_ring
// (absent -> BLKIF_PROTOCOL_DEFAULT, x86_32 on x86; unknown -> fatal -ENOSYS).
import { describe, expect, it } from "vitest";
import { blkifProtocolOf, blkifRingSpec, blkifWire } from "@pvkit/split-drivers";

describe("blkifProtocolOf", () => {
  it("serves the protocol the frontend names", () => {
    expect(blkifProtocolOf("x86_64-abi")).toBe("x86_64-abi");
    expect(blkifProtocolOf("x86_32-abi")).toBe("x86_32-abi");
  });
  it("falls back to x86_32-abi when the node is absent or has no word (xenbus_scanf fails)", () => {
    expect(blkifProtocolOf(undefined)).toBe("x86_32-abi");
    expect(blkifProtocolOf("")).toBe("x86_32-abi");
    expect(blkifProtocolOf(" \n")).toBe("x86_32-abi");
  });
  it("reads only the first word, as %63s does", () => {
    expect(blkifProtocolOf("x86_64-abi trailing")).toBe("x86_64-abi");
  });
  it("returns undefined for an unknown protocol (the backend's -ENOSYS)", () => {
    for (const p of ["arm-abi", "x86_64", "X86_64-ABI", "constructor"])
      expect(blkifProtocolOf(p)).toBeUndefined();
  });
});

describe("blkifRingSpec / blkifWire", () => {
  it("throws RangeError for a name that is not a protocol", () => {
    expect(() => blkifRingSpec("arm-abi" as never)).toThrow(RangeError);
    expect(() => blkifRingSpec("constructor" as never)).toThrow(RangeError);
    expect(() => blkifWire("toString" as never)).toThrow(RangeError);
  });
  it("sizes requests, responses and entries per protocol", () => {
    const sizes = (p: "x86_64-abi" | "x86_32-abi") => {
      const s = blkifRingSpec(p);
      return [s.request.size, s.response.size, s.entrySize];
    };
    expect(sizes("x86_64-abi")).toStrictEqual([112, 16, 112]);
    expect(sizes("x86_32-abi")).toStrictEqual([108, 12, 108]);
  });
});
