/**
 * The memory hypercall of `xen/include/public/memory.h` (Xen 4.17, x86_64): HYPERVISOR_memory_op's
 * commands, the XENMAPSPACE_* spaces, and the argument structs of the physmap commands the
 * simulator implements, each as the object a guest passes (`Hypercalls.memory_op`) and as its C
 * byte layout. XENMEM_add_to_physmap is how an HVM-style guest places its shared_info and
 * grant-table frames; the batch form with XENMAPSPACE_gmfn_foreign is libxc's foreign mapping.
 *
 * What the byte layouts are for: they are the C form of the argument, pinned to the real header
 * by `pnpm abi-check`, and the reference the object interface is checked against (each
 * interface has exactly the layout's top-level members, `test/abi/hypercall-args.test.ts`).
 * Code that holds an argument as bytes (in guest memory, in a recorded trace) decodes it with
 * them. The simulator's hypercalls never read them: they take the decoded objects.
 *
 * ```
 * xen_add_to_physmap (24 bytes)                    xen_remove_from_physmap (16)
 *  0       2      4       8         16       24     0       2     8        16
 *  +-------+------+-------+---------+--------+      +-------+-----+--------+
 *  | domid | size | space | idx     | gpfn   |      | domid | pad | gpfn   |
 *  +-------+------+-------+---------+--------+      +-------+-----+--------+
 * xen_add_to_physmap_batch (32 bytes)
 *  0       2       4      6                 8      16      24     32
 *  +-------+-------+------+-----------------+------+-------+------+
 *  | domid | space | size | u.foreign_domid | idxs | gpfns | errs |   (idxs, gpfns, errs: guest handles)
 *  +-------+-------+------+-----------------+------+-------+------+
 * ```
 */
import type { domid_t } from "./xen.js";
import type { Layout } from "./struct.js";

/** `XENMEM_*`: the HYPERVISOR_memory_op (12) commands pvkit names. */
export const XENMEM = {
  XENMEM_increase_reservation: 0,
  XENMEM_decrease_reservation: 1,
  XENMEM_maximum_ram_page: 2,
  XENMEM_current_reservation: 3,
  XENMEM_maximum_reservation: 4,
  XENMEM_populate_physmap: 6,
  XENMEM_add_to_physmap: 7,
  XENMEM_remove_from_physmap: 15,
  XENMEM_add_to_physmap_batch: 23,
} as const;

/** `XENMAPSPACE_*`: what XENMEM_add_to_physmap(_batch) maps. */
export const XENMAPSPACE = {
  XENMAPSPACE_shared_info: 0,
  XENMAPSPACE_grant_table: 1,
  XENMAPSPACE_gmfn: 2,
  XENMAPSPACE_gmfn_range: 3,
  /** A frame of another domain; XENMEM_add_to_physmap_batch only. */
  XENMAPSPACE_gmfn_foreign: 4,
} as const;

/** `XENMAPIDX_grant_table_status`: in `idx` with XENMAPSPACE_grant_table, map a status frame. */
export const XENMAPIDX_grant_table_status = 0x80000000;

/**
 * `struct xen_add_to_physmap { domid_t domid; uint16_t size; unsigned int space;
 *   xen_ulong_t idx; xen_pfn_t gpfn; };` (XENMEM_add_to_physmap; for XENMAPSPACE_grant_table,
 * `idx` may carry XENMAPIDX_grant_table_status).
 */
export interface xen_add_to_physmap {
  /** The domain whose physmap changes (DOMID_SELF for the caller). */
  domid: domid_t;
  /** Number of pages, for XENMAPSPACE_gmfn_range only. */
  size?: number;
  /** A XENMAPSPACE_* value. */
  space: number;
  /** Index into the space (a grant-table frame number, 0 for shared_info). */
  idx: number;
  /** The GFN to map it at. */
  gpfn: number;
}
/** `sizeof(struct xen_add_to_physmap)`. */
export const XEN_ADD_TO_PHYSMAP_SIZE = 24;
/** Layout of `struct xen_add_to_physmap`. */
export const xen_add_to_physmap_layout = {
  domid: [0, 2],
  size: [2, 2],
  space: [4, 4],
  idx: [8, 8],
  gpfn: [16, 8],
} as const satisfies Layout;

/**
 * `struct xen_add_to_physmap_batch { domid_t domid; uint16_t space; uint16_t size;
 *   union { domid_t foreign_domid; uint16_t res0; } u; XEN_GUEST_HANDLE(xen_ulong_t) idxs;
 *   XEN_GUEST_HANDLE(xen_pfn_t) gpfns; XEN_GUEST_HANDLE(int) errs; };`
 * (XENMEM_add_to_physmap_batch): `idxs`, `gpfns` and `errs` are guest arrays of `size`.
 */
export interface xen_add_to_physmap_batch {
  /** The domain whose physmap changes (DOMID_SELF for the caller). */
  domid: domid_t;
  /** A XENMAPSPACE_* value (the simulator implements XENMAPSPACE_gmfn_foreign). */
  space: number;
  /** Elements in each array, at most 0xffff. */
  size: number;
  u: { foreign_domid: domid_t };
  /** Frames of the foreign domain (its GFNs). */
  idxs: number[];
  /** Where to map each one in `domid`'s physmap. */
  gpfns: number[];
  /** OUT: 0 or -errno per element. */
  errs: number[];
}
/** `sizeof(struct xen_add_to_physmap_batch)`. */
export const XEN_ADD_TO_PHYSMAP_BATCH_SIZE = 32;
/** Layout of `struct xen_add_to_physmap_batch`: the three arrays are 8-byte guest handles. */
export const xen_add_to_physmap_batch_layout = {
  domid: [0, 2],
  space: [2, 2],
  size: [4, 2],
  u: [6, 2],
  "u.foreign_domid": [6, 2],
  idxs: [8, 8],
  gpfns: [16, 8],
  errs: [24, 8],
} as const satisfies Layout;

/** `struct xen_remove_from_physmap { domid_t domid; xen_pfn_t gpfn; };` (XENMEM_remove_from_physmap). */
export interface xen_remove_from_physmap {
  /** The domain whose physmap changes (DOMID_SELF for the caller). */
  domid: domid_t;
  /** The GFN to unmap. */
  gpfn: number;
}
/** `sizeof(struct xen_remove_from_physmap)`. */
export const XEN_REMOVE_FROM_PHYSMAP_SIZE = 16;
/** Layout of `struct xen_remove_from_physmap`. */
export const xen_remove_from_physmap_layout = {
  domid: [0, 2],
  gpfn: [8, 8],
} as const satisfies Layout;
