import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { mapForeignPages } from "@pvkit/toolstack";

describe("mapForeignPages", () => {
  it("maps a guest's pages into dom0 through the hypercall and unmaps them on dispose", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain({ nrPages: 32 });
    const g0 = hv.guest(0);
    hv.guest(du.domid).memory.writablePage(5).setU32(0, 1234);
    let page;
    {
      using m = mapForeignPages(g0, du.domid, [5]);
      page = m.pages[0]!;
      expect(page.getU32(0)).toBe(1234);
      page.setU32(8, 99);
    }
    expect(hv.guest(du.domid).memory.page(5).getU32(8)).toBe(99);
    expect(() => page.getU32(0)).toThrow(/gone/);
  });

  it("refuses an unprivileged mapper with Xen's XenError EPERM and leaves nothing mapped", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const a = hv.createDomain();
    const b = hv.createDomain();
    const ga = hv.guest(a.domid);
    const before = [...Array(8).keys()].map((i) => ga.memory.isHole(0x37fff - i));
    expect(() => mapForeignPages(ga, b.domid, [1, 2])).toThrow(
      expect.objectContaining({
        name: "XenError",
        code: "EPERM",
        op: "XENMEM_add_to_physmap_batch",
      }),
    );
    expect([...Array(8).keys()].map((i) => ga.memory.isHole(0x37fff - i))).toEqual(before);
  });

  it("fails with EINVAL for a GFN that holds nothing", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain({ nrPages: 16 });
    expect(() => mapForeignPages(hv.guest(0), du.domid, [3, 0x5000])).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
  });
});
