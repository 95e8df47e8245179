import { describe, expect, it } from "vitest";
import { Hypervisor, GNTTAB_GFN_BASE } from "@pvkit/hypervisor-sim";
import { highestHoles } from "@pvkit/guest-sdk/wire";

describe("highestHoles", () => {
  it("returns the highest holes below the grant-table window, skipping occupied GFNs", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const g = hv.guest(0);
    const [top] = highestHoles(g.memory, 1);
    expect(top).toBe(GNTTAB_GFN_BASE - 1);
    g.hypercall.memory_op(7, { domid: 0x7ff0, space: 0, idx: 0, gpfn: top });
    expect(highestHoles(g.memory, 2)).toEqual([GNTTAB_GFN_BASE - 2, GNTTAB_GFN_BASE - 3]);
  });

  it("throws RangeError when there are not enough holes", () => {
    const mem = { nrPages: GNTTAB_GFN_BASE - 2, isHole: () => true };
    expect(highestHoles(mem, 2)).toEqual([GNTTAB_GFN_BASE - 1, GNTTAB_GFN_BASE - 2]);
    expect(() => highestHoles(mem, 3)).toThrow(RangeError);
  });
});
