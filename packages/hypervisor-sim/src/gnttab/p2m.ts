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
 * the physmap or a foreign (grant) mapping gives GNTST_bad_page; nothing is ever paged out, so
 * GNTST_eagain does not arise. Returns the Frame or a negative GNTST code.
 */
export function getPagedFrame(rd: Domain, gfn: number): Frame | number {
  // A hole (neither RAM nor anything placed there) has no frame.
  return rd.physmap.ownFrame(gfn) ?? GNTST.GNTST_bad_page;
}

/**
 * `create_grant_p2m_mapping()`: only plain host mappings (GNTMAP_host_map, optionally
 * GNTMAP_readonly, nothing else — not even guest_avail bits) can be expressed, and the GFN must
 * be a hole or RAM (which the mapping shadows). Anything else is GNTST_general_error; Xen itself
 * would crash a guest mapping over another grant or foreign page, the simulator reports the
 * failure instead. On success returns the GFN used.
 */
export function createGrantHostMapping(ld: Domain, hostAddr: number, frame: Frame, flags: number): number {
  if (((flags & ~GNTMAP.GNTMAP_readonly) >>> 0) !== GNTMAP.GNTMAP_host_map) return GNTST.GNTST_general_error;
  const gfn = hostGfn(hostAddr);
  const writable = (flags & GNTMAP.GNTMAP_readonly) === 0;
  if (ld.physmap.insert(gfn, frame, "foreign", writable) === undefined) return GNTST.GNTST_general_error;
  return gfn;
}

/**
 * `replace_grant_p2m_mapping()`: translated guests cannot replace (`new_addr` must be 0) and the
 * GFN of `host_addr` must hold a grant mapping of exactly `frame`; otherwise
 * GNTST_general_error. Removes the entry (its page view dies). Returns GNTST_okay.
 */
export function replaceGrantHostMapping(ld: Domain, hostAddr: number, frame: Frame, newAddr: number, flags: number): number {
  if (newAddr !== 0 || (flags & GNTMAP.GNTMAP_contains_pte) !== 0) return GNTST.GNTST_general_error;
  const gfn = hostGfn(hostAddr);
  const pm = ld.physmap;
  if (pm.kindAt(gfn) !== "foreign" || pm.frame(gfn) !== frame) return GNTST.GNTST_general_error;
  pm.remove(gfn);
  return GNTST.GNTST_okay;
}
