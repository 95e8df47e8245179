/**
 * `xen/include/public/grant_table.h`: commands, flags, status codes and argument structures.
 */
import type { domid_t } from "./xen.js";

/** `grant_ref_t` is a u32. */
export type grant_ref_t = number;
/** `grant_handle_t` is a u32 (a maptrack index). */
export type grant_handle_t = number;

export const GNTTABOP = {
  GNTTABOP_map_grant_ref: 0,
  GNTTABOP_unmap_grant_ref: 1,
  GNTTABOP_setup_table: 2,
  GNTTABOP_dump_table: 3,
  GNTTABOP_transfer: 4,
  GNTTABOP_copy: 5,
  GNTTABOP_query_size: 6,
  GNTTABOP_unmap_and_replace: 7,
  GNTTABOP_set_version: 8,
  GNTTABOP_get_status_frames: 9,
  GNTTABOP_get_version: 10,
  GNTTABOP_swap_grant_ref: 11,
  GNTTABOP_cache_flush: 12,
} as const;
export type GnttabOpName = keyof typeof GNTTABOP;

/** `GTF_*` flags of a grant entry (u16). */
export const GTF = {
  GTF_invalid: 0,
  GTF_permit_access: 1,
  GTF_accept_transfer: 2,
  GTF_transitive: 3,
  GTF_type_mask: 3,
  GTF_readonly: 1 << 2,
  GTF_reading: 1 << 3,
  GTF_writing: 1 << 4,
  GTF_PWT: 1 << 5,
  GTF_PCD: 1 << 6,
  GTF_PAT: 1 << 7,
  GTF_sub_page: 1 << 8,
  GTF_transfer_committed: 1 << 2,
  GTF_transfer_completed: 1 << 3,
} as const;

/** `GNTMAP_*` map flags. */
export const GNTMAP = {
  GNTMAP_device_map: 1 << 0,
  GNTMAP_host_map: 1 << 1,
  GNTMAP_readonly: 1 << 2,
  GNTMAP_application_map: 1 << 3,
  GNTMAP_contains_pte: 1 << 4,
  GNTMAP_guest_avail_mask: 0xffff0000,
} as const;

/** `GNTCOPY_*` copy flags. */
export const GNTCOPY = {
  GNTCOPY_source_gref: 1 << 0,
  GNTCOPY_dest_gref: 1 << 1,
} as const;

/** `GNTST_*` per-element status codes (s16). */
export const GNTST = {
  GNTST_okay: 0,
  GNTST_general_error: -1,
  GNTST_bad_domain: -2,
  GNTST_bad_gntref: -3,
  GNTST_bad_handle: -4,
  GNTST_bad_virt_addr: -5,
  GNTST_bad_dev_addr: -6,
  GNTST_no_device_space: -7,
  GNTST_permission_denied: -8,
  GNTST_bad_page: -9,
  GNTST_bad_copy_arg: -10,
  GNTST_address_too_big: -11,
  GNTST_eagain: -12,
  GNTST_no_space: -13,
} as const;
export type GnttabStatusName = keyof typeof GNTST;

const gntstByValue = new Map<number, GnttabStatusName>(
  (Object.entries(GNTST) as [GnttabStatusName, number][]).map(([k, v]) => [v, k]),
);
/** The `GNTST_*` name of a status value, or undefined. */
export function gntstName(status: number): GnttabStatusName | undefined {
  return gntstByValue.get(status);
}

/** `GNTTAB_NR_RESERVED_ENTRIES`: refs 0..7 belong to the toolstack. */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
/** `GNTTAB_RESERVED_CONSOLE`. */
export const GNTTAB_RESERVED_CONSOLE = 0;
/** `GNTTAB_RESERVED_XENSTORE`. */
export const GNTTAB_RESERVED_XENSTORE = 1;
/** `INITIAL_NR_GRANT_FRAMES`. */
export const INITIAL_NR_GRANT_FRAMES = 1;
/** Xen's default `gnttab_max_frames`. */
export const DEFAULT_MAX_GRANT_FRAMES = 64;
/** Xen's default `gnttab_max_maptrack_frames`. */
export const DEFAULT_MAX_MAPTRACK_FRAMES = 1024;
/** Maptrack entries per frame (16-byte `struct grant_mapping`). */
export const MAPTRACK_PER_PAGE = 256;
/** Each pin counter in `struct active_grant_entry` is 8 bits wide. */
export const GNTPIN_COUNT_MAX = 0xff;

/** `struct gnttab_map_grant_ref`. */
export interface gnttab_map_grant_ref {
  host_addr: number;
  flags: number;
  ref: grant_ref_t;
  dom: domid_t;
  /** OUT (s16 GNTST_*) */
  status?: number;
  /** OUT */
  handle?: grant_handle_t;
  /** OUT: machine address of the frame (MFN << 12). */
  dev_bus_addr?: number;
}
/** `struct gnttab_unmap_grant_ref`. */
export interface gnttab_unmap_grant_ref {
  host_addr: number;
  dev_bus_addr: number;
  handle: grant_handle_t;
  /** OUT */
  status?: number;
}
/** `struct gnttab_setup_table`. `frame_list` receives the frame numbers (GFNs: translated guest). */
export interface gnttab_setup_table {
  dom: domid_t;
  nr_frames: number;
  /** OUT */
  status?: number;
  /** OUT: guest array of xen_pfn_t, at least nr_frames long. */
  frame_list: number[];
}
export interface gnttab_dump_table {
  dom: domid_t;
  status?: number;
}
export interface gnttab_transfer {
  mfn: number;
  domid: domid_t;
  ref: grant_ref_t;
  status?: number;
}
/** One side of a `gnttab_copy`: a grant ref or a raw frame, selected by GNTCOPY_*_gref. */
export interface gnttab_copy_ptr {
  u: { ref?: grant_ref_t; gmfn?: number };
  domid: domid_t;
  /** Byte offset in the page. */
  offset: number;
}
/** `struct gnttab_copy`. */
export interface gnttab_copy {
  source: gnttab_copy_ptr;
  dest: gnttab_copy_ptr;
  /** Bytes (u16). */
  len: number;
  flags: number;
  /** OUT */
  status?: number;
}
export interface gnttab_query_size {
  dom: domid_t;
  /** OUT */
  nr_frames?: number;
  /** OUT */
  max_nr_frames?: number;
  /** OUT */
  status?: number;
}
export interface gnttab_unmap_and_replace {
  host_addr: number;
  new_addr: number;
  handle: grant_handle_t;
  status?: number;
}
export interface gnttab_set_version {
  /** IN/OUT: always written back with the version in effect. */
  version: number;
}
export interface gnttab_get_status_frames {
  nr_frames: number;
  dom: domid_t;
  status?: number;
  frame_list: number[];
}
export interface gnttab_get_version {
  dom: domid_t;
  /** OUT */
  version?: number;
}
export interface gnttab_swap_grant_ref {
  ref_a: grant_ref_t;
  ref_b: grant_ref_t;
  status?: number;
}
export interface gnttab_cache_flush {
  a: { dev_bus_addr?: number; ref?: grant_ref_t };
  offset: number;
  length: number;
  op: number;
}

/** Maps each GNTTABOP number to its (array element) argument structure. */
export interface GnttabOpArgs {
  0: gnttab_map_grant_ref;
  1: gnttab_unmap_grant_ref;
  2: gnttab_setup_table;
  3: gnttab_dump_table;
  4: gnttab_transfer;
  5: gnttab_copy;
  6: gnttab_query_size;
  7: gnttab_unmap_and_replace;
  8: gnttab_set_version;
  9: gnttab_get_status_frames;
  10: gnttab_get_version;
  11: gnttab_swap_grant_ref;
  12: gnttab_cache_flush;
}
