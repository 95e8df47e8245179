/**
 * Where the domain builder puts a guest's boot pages. pvkit guests are translated (PVH-like):
 * every frame number the builder hands out is a GFN of the guest, as `xg_dom_x86.c` does for a
 * translated guest (`xc_dom_p2m` is the identity there).
 *
 * ```
 * GFN 0 ............................ left alone (a zero frame number never names a boot page)
 * GFN 1 ............................ start_info (struct start_info, x86_64, 1168 bytes at +0)
 * GFN 2 ............................ xenstore ring (struct xenstore_domain_interface), zeroed RAM
 * GFN 3 ............................ console ring (struct xencons_interface), zeroed RAM
 * GFN 4 .. nr_pages-1 .............. RAM, free for the guest
 * GFN nr_pages .. 0x37ffe .......... holes (grant mappings, add_to_physmap)
 * GFN 0x37fff ...................... shared_info, placed by the builder with XENMEM_add_to_physmap
 * GFN 0x38000 + i .................. grant-table frame i (GNTTAB_GFN_BASE)
 * ```
 *
 * The boot pages sit low in RAM in libxc's order for a PV guest (start_info, then xenstore,
 * then console, after the kernel image; here there is no image). The guest SDK's page
 * allocator takes the upper half of RAM by default, so the two never meet. A guest learns
 * where start_info is the way a PV kernel does (a register at entry): the host passes
 * `startInfoGfn` to `main`. From start_info it finds the rest: `store_mfn`/`store_evtchn`,
 * `console.domU.mfn`/`evtchn`, and `shared_info` (the guest-physical *address*, GFN << 12, as
 * libxc writes for a translated guest: `shared_info_pfn << PAGE_SHIFT`).
 */
import { GNTTAB_GFN_BASE } from "@pvkit/hypervisor-sim";

/** The GFNs of a guest's boot pages. */
export interface BootLayout {
  /** `start_info` page. */
  readonly startInfoGfn: number;
  /** xenstore ring page (granted to the xenstore domain as reserved ref 1). */
  readonly xenstoreGfn: number;
  /** console ring page (granted to the console backend as reserved ref 0). */
  readonly consoleGfn: number;
  /** Where shared_info is placed (`start_info.shared_info` = this << 12). */
  readonly sharedInfoGfn: number;
}

/** Fewest RAM pages a guest can have: GFN 0, the three boot pages, and four of its own. */
export const MIN_GUEST_PAGES = 8;

/**
 * The boot layout of a guest with `nrPages` pages of RAM.
 * @throws RangeError when `nrPages` is below MIN_GUEST_PAGES or reaches the shared_info GFN.
 */
export function bootLayout(nrPages: number): BootLayout {
  if (!Number.isInteger(nrPages) || nrPages < MIN_GUEST_PAGES || nrPages >= GNTTAB_GFN_BASE - 1) {
    throw new RangeError(
      `a guest needs ${MIN_GUEST_PAGES}..${GNTTAB_GFN_BASE - 2} pages of RAM, got ${nrPages}`,
    );
  }
  return {
    startInfoGfn: 1,
    xenstoreGfn: 2,
    consoleGfn: 3,
    sharedInfoGfn: GNTTAB_GFN_BASE - 1,
  };
}
