// Permission strings of the guest's xenstore client (docs/misc/xenstore.txt).
import { describe, expect, it } from "vitest";
import { formatPermission, parsePermission } from "@pvkit/guest-sdk/wire";

describe("permission strings", () => {
  it("parses and formats the four letters", () => {
    expect(["n0", "r5", "w12", "b65535"].map(parsePermission)).toEqual([
      { domid: 0, access: "none" },
      { domid: 5, access: "read" },
      { domid: 12, access: "write" },
      { domid: 65535, access: "both" },
    ]);
    expect(formatPermission({ domid: 3, access: "both" })).toBe("b3");
    expect(formatPermission("r7")).toBe("r7");
  });

  it("refuses malformed entries with RangeError", () => {
    for (const s of ["x1", "r", "r-1", "r65536", "r1a", ""])
      expect(() => parsePermission(s), s).toThrow(RangeError);
    expect(() => formatPermission({ domid: 70000, access: "read" })).toThrow(RangeError);
    expect(() => formatPermission({ domid: 1, access: "all" as never })).toThrow(RangeError);
  });
});
