/**
 * The arch side of grant mappings for translated guests (x86 HVM/PVH, Xen 4.17
 * `xen/arch/x86/hvm/grant_table.c` and `get_paged_frame()` in `grant_table.c`): every simulated
 * guest is translated, so a host mapping is a p2m (physmap) entry at GFN `host_addr >> 12`.
 */
import { GNTMAP, GNTST } from "../abi/grant-table.js";
import { XEN_PAGE_SIZE } from "../abi/xen.js";
import type { Domain } from "../domain/domain.js";
import type { Frame } from "../memory/frame.js";

/**
 * `paging_mode_external(d)`: true for every simulated domain. They all behave as HVM/PVH guests
 * (the grant-table frames, shared_info and grant mappings live in their physmap), so Xen's PV
 * paths — device_map, application_map, contains_pte, PTE-based host mappings — are refused the
 * way Xen refuses them for HVM callers.
 */
export function pagingModeExternal(_d: Domain): boolean {
  return true;
}

/** The GFN a `host_addr` names: `host_addr >> 12` on a u64 (safe-integer) address. */
export function hostGfn(hostAddr: number): number {
  return Math.floor(hostAddr / XEN_PAGE_SIZE);
}

/**
 * `get_paged_frame(gfn, rd)`: the frame behind GFN `gfn` of the granter. A hole, a GFN outside
 * the physmap, a grant mapping (its page is not the granter's) or a frame the granter mapped with
 * XENMAPSPACE_gmfn_foreign (`p2m_is_foreign`) gives GNTST_bad_page; nothing is ever paged out, so
 * GNTST_eagain does not arise. Returns the Frame or a negative GNTST code.
 */
export function getPagedFrame(rd: Domain, gfn: number): Frame | number {
  return rd.physmap.ownFrame(gfn) ?? GNTST.GNTST_bad_page;
}

/**
 * `create_grant_p2m_mapping()` → `p2m_add_page(gfn, frame, p2m_grant_map_rw/ro)`. Only plain host
 * mappings (GNTMAP_host_map, optionally GNTMAP_readonly, nothing else — not even guest_avail bits)
 * can be expressed: anything else is GNTST_general_error. Then, as p2m_add_page does:
 *
 * - the entry at the GFN is replaced: RAM or a Xen page (shared_info, a grant-table frame) leaves
 *   the physmap — it does not come back on unmap — but a grant or foreign mapping there is
 *   refused with GNTST_general_error (Xen also crashes the domain: see the README);
 * - a page of the mapper's own (it mapped its own grant) leaves its old GFN, which becomes a
 *   hole: a frame sits at one GFN only.
 *
 * On success returns the GFN used.
 */
export function createGrantHostMapping(
  ld: Domain,
  hostAddr: number,
  frame: Frame,
  flags: number,
): number {
  if ((flags & ~GNTMAP.GNTMAP_readonly) >>> 0 !== GNTMAP.GNTMAP_host_map)
    return GNTST.GNTST_general_error;
  const gfn = hostGfn(hostAddr);
  const pm = ld.physmap;
  const kind = pm.kindAt(gfn);
  if (kind === "foreign" || kind === "foreign-gmfn") return GNTST.GNTST_general_error;
  if (!Number.isSafeInteger(gfn)) return GNTST.GNTST_general_error;
  pm.remove(gfn);
  const ogfn = frame.owner === ld.domid ? pm.gfnOf(frame) : undefined;
  if (ogfn !== undefined) pm.remove(ogfn);
  const writable = (flags & GNTMAP.GNTMAP_readonly) === 0;
  if (pm.insert(gfn, frame, "foreign", writable) === undefined) return GNTST.GNTST_general_error;
  return gfn;
}

/**
 * `replace_grant_p2m_mapping()`: translated guests cannot replace (`new_addr` must be 0) and the
 * GFN of `host_addr` must hold a grant mapping of exactly `frame`; otherwise
 * GNTST_general_error. `p2m_remove_page` then leaves a hole (its page view dies): whatever was at
 * the GFN before the mapping does not come back. Returns GNTST_okay.
 */
export function replaceGrantHostMapping(
  ld: Domain,
  hostAddr: number,
  frame: Frame,
  newAddr: number,
  flags: number,
): number {
  if (newAddr !== 0 || (flags & GNTMAP.GNTMAP_contains_pte) !== 0) return GNTST.GNTST_general_error;
  const gfn = hostGfn(hostAddr);
  const pm = ld.physmap;
  if (pm.kindAt(gfn) !== "foreign" || pm.frame(gfn) !== frame) return GNTST.GNTST_general_error;
  pm.remove(gfn);
  return GNTST.GNTST_okay;
}
