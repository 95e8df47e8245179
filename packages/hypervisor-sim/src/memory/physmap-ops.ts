/**
 * The two physmap steps of HYPERVISOR_memory_op whose outcome depends on what sits at the GFN,
 * with Xen 4.17 x86's results for each kind of entry the simulator has (it has no MMIO, paging,
 * sharing or PoD entries):
 *
 * ```
 * at the GFN                  remove_from_physmap            add_to_physmap (shared_info, grant_table)
 * --------------------------  -----------------------------  ----------------------------------------
 * hole                        -ENOENT                        nothing to remove
 * RAM                         removed, still allocated       removed and freed (tot_pages drops)
 * Xen page (shared_info,      removed                        unhooked
 *   a grant-table frame)
 * gmfn_foreign mapping        removed (the foreign ref       of a Xen page: unhooked;
 *                               dropped)                       of RAM: -ENXIO
 * grant mapping               -ENOENT                        -ENXIO
 * ```
 */
import { XEN_ERRNO } from "../abi/errno.js";
import type { Physmap } from "./physmap.js";

const { ENOENT, ENXIO } = XEN_ERRNO;

/**
 * `do_memory_op(XENMEM_remove_from_physmap)` (xen/common/memory.c) once the domain is found and
 * XSM agrees: `get_page_from_gfn(d, gpfn, NULL, P2M_ALLOC)`, then `guest_physmap_remove_page` and
 * `put_page`. `p2m_get_page_from_gfn` (xen/arch/x86/mm/p2m.c) finds a page for RAM, for the
 * domain's Xen pages and, with a reference on the foreign owner, for a gmfn_foreign mapping; for a
 * grant mapping `get_page(page, d)` fails (the page is the granter's) and for a hole there is no
 * page: both -ENOENT. The removed page is not freed: no `put_page_alloc_ref`, so a RAM page stays
 * allocated to the domain (it still counts in XENMEM_current_reservation).
 *
 * The one kind the simulator treats otherwise: a mapping of the domain's own grant is refused
 * with -ENOENT like any grant mapping, where Xen's `get_page` succeeds and the p2m entry goes
 * while the grant stays mapped (see the README's "Deliberate differences").
 * @returns 0 or -ENOENT.
 */
export function removeFromPhysmap(pm: Physmap, gfn: number): number {
  if (pm.isHole(gfn)) return -ENOENT;
  const kind = pm.kindAt(gfn);
  if (kind === "foreign") return -ENOENT;
  if (kind === undefined && !pm.isRam(gfn)) return -ENOENT; // beyond RAM and nothing there
  pm.remove(gfn);
  return 0;
}

/**
 * `xenmem_add_to_physmap_one` (xen/arch/x86/mm/p2m.c), "Remove previously mapped page if it was
 * present", before a Xen page is placed at `gfn`: a special page there (`is_special_page`: a Xen
 * page, even one mapped from another domain with gmfn_foreign) is unhooked with
 * `p2m_remove_page`; anything else goes through `guest_remove_page()` (xen/common/memory.c),
 * which frees the domain's RAM page (it leaves XENMEM_current_reservation) but fails with -ENXIO
 * when `get_page(page, d)` fails — the page is another domain's: a grant mapping, or a
 * gmfn_foreign mapping of RAM. On failure nothing changes. The caller skips this when the page it
 * places is already at `gfn` (Xen's `mfn_eq(mfn, prev_mfn)`).
 *
 * As in `removeFromPhysmap`, a grant mapping is always refused (-ENXIO), even of the domain's own
 * page or of a Xen page, where Xen would drop the p2m entry of a grant still mapped.
 * @returns 0 or -ENXIO.
 */
export function removeBeforeXenPage(pm: Physmap, gfn: number): number {
  if (pm.isHole(gfn)) return 0;
  const kind = pm.kindAt(gfn);
  if (kind === undefined) {
    pm.free(gfn); // the domain's RAM (or nothing, beyond RAM)
    return 0;
  }
  if (kind === "foreign") return -ENXIO;
  if (kind === "foreign-gmfn" && pm.frame(gfn)?.xenPage !== true) return -ENXIO;
  pm.remove(gfn);
  return 0;
}
