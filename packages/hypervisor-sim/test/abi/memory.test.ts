// Expected numbers: /usr/include/xen/memory.h, Xen 4.17 x86_64 (offsetof/sizeof as gcc computes
// them; the XENMEM_* and XENMAPSPACE_* macros).
import { describe, expect, it } from "vitest";
import {
  XENMAPSPACE,
  XENMEM,
  XEN_ADD_TO_PHYSMAP_BATCH_SIZE,
  XEN_REMOVE_FROM_PHYSMAP_SIZE,
  xen_add_to_physmap_batch_layout,
  xen_remove_from_physmap_layout,
} from "@pvkit/hypervisor-sim/abi";
import { expectLayout } from "./expect-layout.js";

describe("memory.h", () => {
  it("lays out xen_add_to_physmap_batch in 32 bytes: three u16, the foreign_domid union, three guest handles", () => {
    expectLayout(xen_add_to_physmap_batch_layout, XEN_ADD_TO_PHYSMAP_BATCH_SIZE, 32, {
      domid: [0, 2],
      space: [2, 2],
      size: [4, 2],
      u: [6, 2],
      "u.foreign_domid": [6, 2],
      idxs: [8, 8],
      gpfns: [16, 8],
      errs: [24, 8],
    });
  });

  it("lays out xen_remove_from_physmap as {domid u16 @0, gpfn u64 @8} in 16 bytes", () => {
    expectLayout(xen_remove_from_physmap_layout, XEN_REMOVE_FROM_PHYSMAP_SIZE, 16, {
      domid: [0, 2],
      gpfn: [8, 8],
    });
  });

  it("numbers the physmap commands and spaces as memory.h does", () => {
    expect([
      XENMEM.XENMEM_add_to_physmap,
      XENMEM.XENMEM_remove_from_physmap,
      XENMEM.XENMEM_add_to_physmap_batch,
    ]).toEqual([7, 15, 23]);
    expect([XENMEM.XENMEM_current_reservation, XENMEM.XENMEM_maximum_reservation]).toEqual([3, 4]);
    expect([
      XENMAPSPACE.XENMAPSPACE_shared_info,
      XENMAPSPACE.XENMAPSPACE_grant_table,
      XENMAPSPACE.XENMAPSPACE_gmfn_foreign,
    ]).toEqual([0, 1, 4]);
  });
});
