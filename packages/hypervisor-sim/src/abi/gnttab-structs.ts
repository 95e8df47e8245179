/**
 * Byte layouts of the `GNTTABOP_*` argument structures (`xen/include/public/grant_table.h`,
 * x86_64). (`struct xen_add_to_physmap`, through which an HVM guest places its grant-table and
 * shared_info frames, is in `memory.ts`.)
 *
 * HYPERVISOR_grant_table_op (hypercall 20) takes an array of `count` of these; element `i` of
 * a batch starts at `i * <NAME>_SIZE`. `status` fields are s16 `GNTST_*` codes: read them
 * with `readSignedField`. `XEN_GUEST_HANDLE(...)` members are 8-byte guest virtual addresses.
 *
 * The layout names carry a `_layout` suffix because `grant-table.ts` already exports the
 * decoded argument objects under the bare Xen struct names. Implicit compiler padding has no
 * entry; explicit members (`pad`) do. Checked against the real headers by `pnpm abi-check`.
 *
 * What these layouts are for: they are the C form of each argument, pinned to the real header
 * by `pnpm abi-check`, and the reference the decoded argument objects (`grant-table.ts`) are checked
 * against: each object interface has exactly its layout's top-level members other than padding
 * (`test/abi/hypercall-args.test.ts`). Code that holds an argument as bytes (in guest memory, in
 * a recorded trace) decodes it with them, by command through `GNTTABOP_ARG`. The simulator's
 * hypercalls never read them: `Hypercalls` takes the decoded objects.
 *
 * ```
 * gnttab_copy (40 bytes)
 *  0                 8       10      12     16                24      26      28   32   34    36     38  40
 *  +-----------------+-------+-------+------+-----------------+-------+-------+----+----+-----+------+---+
 *  | source.u        | s.dom | s.off | pad  | dest.u          | d.dom | d.off |pad |len |flags|status|pad|
 *  +-----------------+-------+-------+------+-----------------+-------+-------+----+----+-----+------+---+
 *  u.ref (u32) or u.gmfn (xen_pfn_t, u64), chosen by GNTCOPY_source_gref / GNTCOPY_dest_gref
 * ```
 */
import type { Layout } from "./struct.js";
import type { StructLayout } from "./evtchn-structs.js";
import { GNTTABOP } from "./grant-table.js";

/**
 * `struct gnttab_map_grant_ref { uint64_t host_addr; uint32_t flags; grant_ref_t ref; domid_t dom;
 *   int16_t status; grant_handle_t handle; uint64_t dev_bus_addr; };`
 */
export const GNTTAB_MAP_GRANT_REF_SIZE = 32;
export const gnttab_map_grant_ref_layout = {
  host_addr: [0, 8],
  flags: [8, 4],
  ref: [12, 4],
  dom: [16, 2],
  status: [18, 2],
  handle: [20, 4],
  dev_bus_addr: [24, 8],
} as const satisfies Layout;

/** `struct gnttab_unmap_grant_ref { uint64_t host_addr; uint64_t dev_bus_addr; grant_handle_t handle; int16_t status; };` */
export const GNTTAB_UNMAP_GRANT_REF_SIZE = 24;
export const gnttab_unmap_grant_ref_layout = {
  host_addr: [0, 8],
  dev_bus_addr: [8, 8],
  handle: [16, 4],
  status: [20, 2],
} as const satisfies Layout;

/**
 * `struct gnttab_setup_table { domid_t dom; uint32_t nr_frames; int16_t status;
 *   XEN_GUEST_HANDLE(xen_pfn_t) frame_list; };` (`frame_list`: guest address of u64 array)
 */
export const GNTTAB_SETUP_TABLE_SIZE = 24;
export const gnttab_setup_table_layout = {
  dom: [0, 2],
  nr_frames: [4, 4],
  status: [8, 2],
  frame_list: [16, 8],
} as const satisfies Layout;

/** `struct gnttab_dump_table { domid_t dom; int16_t status; };` (4.17 Xen answers -ENOSYS) */
export const GNTTAB_DUMP_TABLE_SIZE = 4;
export const gnttab_dump_table_layout = {
  dom: [0, 2],
  status: [2, 2],
} as const satisfies Layout;

/** `struct gnttab_transfer { xen_pfn_t mfn; domid_t domid; grant_ref_t ref; int16_t status; };` */
export const GNTTAB_TRANSFER_SIZE = 24;
export const gnttab_transfer_layout = {
  mfn: [0, 8],
  domid: [8, 2],
  ref: [12, 4],
  status: [16, 2],
} as const satisfies Layout;

/**
 * `struct gnttab_copy { struct gnttab_copy_ptr { union { grant_ref_t ref; xen_pfn_t gmfn; } u;
 *   domid_t domid; uint16_t offset; } source, dest; uint16_t len; uint16_t flags; int16_t status; };`
 */
export const GNTTAB_COPY_SIZE = 40;
export const gnttab_copy_layout = {
  source: [0, 16],
  "source.u": [0, 8],
  "source.u.ref": [0, 4],
  "source.u.gmfn": [0, 8],
  "source.domid": [8, 2],
  "source.offset": [10, 2],
  dest: [16, 16],
  "dest.u": [16, 8],
  "dest.u.ref": [16, 4],
  "dest.u.gmfn": [16, 8],
  "dest.domid": [24, 2],
  "dest.offset": [26, 2],
  len: [32, 2],
  flags: [34, 2],
  status: [36, 2],
} as const satisfies Layout;

/** `sizeof(struct gnttab_copy_ptr)`: one side (source or dest) of a copy. */
export const GNTTAB_COPY_PTR_SIZE = 16;
export const gnttab_copy_ptr_layout = {
  u: [0, 8],
  "u.ref": [0, 4],
  "u.gmfn": [0, 8],
  domid: [8, 2],
  offset: [10, 2],
} as const satisfies Layout;

/** `struct gnttab_query_size { domid_t dom; uint32_t nr_frames; uint32_t max_nr_frames; int16_t status; };` */
export const GNTTAB_QUERY_SIZE_SIZE = 16;
export const gnttab_query_size_layout = {
  dom: [0, 2],
  nr_frames: [4, 4],
  max_nr_frames: [8, 4],
  status: [12, 2],
} as const satisfies Layout;

/** `struct gnttab_unmap_and_replace { uint64_t host_addr; uint64_t new_addr; grant_handle_t handle; int16_t status; };` */
export const GNTTAB_UNMAP_AND_REPLACE_SIZE = 24;
export const gnttab_unmap_and_replace_layout = {
  host_addr: [0, 8],
  new_addr: [8, 8],
  handle: [16, 4],
  status: [20, 2],
} as const satisfies Layout;

/** `struct gnttab_set_version { uint32_t version; };` (IN/OUT) */
export const GNTTAB_SET_VERSION_SIZE = 4;
export const gnttab_set_version_layout = {
  version: [0, 4],
} as const satisfies Layout;

/**
 * `struct gnttab_get_status_frames { uint32_t nr_frames; domid_t dom; int16_t status;
 *   XEN_GUEST_HANDLE(uint64_t) frame_list; };`
 */
export const GNTTAB_GET_STATUS_FRAMES_SIZE = 16;
export const gnttab_get_status_frames_layout = {
  nr_frames: [0, 4],
  dom: [4, 2],
  status: [6, 2],
  frame_list: [8, 8],
} as const satisfies Layout;

/** `struct gnttab_get_version { domid_t dom; uint16_t pad; uint32_t version; };` */
export const GNTTAB_GET_VERSION_SIZE = 8;
export const gnttab_get_version_layout = {
  dom: [0, 2],
  pad: [2, 2],
  version: [4, 4],
} as const satisfies Layout;

/** `struct gnttab_swap_grant_ref { grant_ref_t ref_a; grant_ref_t ref_b; int16_t status; };` */
export const GNTTAB_SWAP_GRANT_REF_SIZE = 12;
export const gnttab_swap_grant_ref_layout = {
  ref_a: [0, 4],
  ref_b: [4, 4],
  status: [8, 2],
} as const satisfies Layout;

/**
 * `struct gnttab_cache_flush { union { uint64_t dev_bus_addr; grant_ref_t ref; } a;
 *   uint16_t offset; uint16_t length; uint32_t op; };` (op: GNTTAB_CACHE_*; no status field)
 */
export const GNTTAB_CACHE_FLUSH_SIZE = 16;
export const gnttab_cache_flush_layout = {
  a: [0, 8],
  "a.dev_bus_addr": [0, 8],
  "a.ref": [0, 4],
  offset: [8, 2],
  length: [10, 2],
  op: [12, 4],
} as const satisfies Layout;

/** `GNTTAB_CACHE_*` bits of `gnttab_cache_flush.op`. */
export const GNTTAB_CACHE = {
  GNTTAB_CACHE_CLEAN: 1 << 0,
  GNTTAB_CACHE_INVAL: 1 << 1,
  GNTTAB_CACHE_SOURCE_GREF: 2 ** 31,
} as const;

/**
 * The argument (array element) structure of each `GNTTABOP_*` command, keyed by command number.
 * Element `i` of a batch is at `arg + i * size`.
 */
export const GNTTABOP_ARG: Readonly<Record<number, StructLayout>> = {
  [GNTTABOP.GNTTABOP_map_grant_ref]: {
    layout: gnttab_map_grant_ref_layout,
    size: GNTTAB_MAP_GRANT_REF_SIZE,
  },
  [GNTTABOP.GNTTABOP_unmap_grant_ref]: {
    layout: gnttab_unmap_grant_ref_layout,
    size: GNTTAB_UNMAP_GRANT_REF_SIZE,
  },
  [GNTTABOP.GNTTABOP_setup_table]: {
    layout: gnttab_setup_table_layout,
    size: GNTTAB_SETUP_TABLE_SIZE,
  },
  [GNTTABOP.GNTTABOP_dump_table]: {
    layout: gnttab_dump_table_layout,
    size: GNTTAB_DUMP_TABLE_SIZE,
  },
  [GNTTABOP.GNTTABOP_transfer]: { layout: gnttab_transfer_layout, size: GNTTAB_TRANSFER_SIZE },
  [GNTTABOP.GNTTABOP_copy]: { layout: gnttab_copy_layout, size: GNTTAB_COPY_SIZE },
  [GNTTABOP.GNTTABOP_query_size]: {
    layout: gnttab_query_size_layout,
    size: GNTTAB_QUERY_SIZE_SIZE,
  },
  [GNTTABOP.GNTTABOP_unmap_and_replace]: {
    layout: gnttab_unmap_and_replace_layout,
    size: GNTTAB_UNMAP_AND_REPLACE_SIZE,
  },
  [GNTTABOP.GNTTABOP_set_version]: {
    layout: gnttab_set_version_layout,
    size: GNTTAB_SET_VERSION_SIZE,
  },
  [GNTTABOP.GNTTABOP_get_status_frames]: {
    layout: gnttab_get_status_frames_layout,
    size: GNTTAB_GET_STATUS_FRAMES_SIZE,
  },
  [GNTTABOP.GNTTABOP_get_version]: {
    layout: gnttab_get_version_layout,
    size: GNTTAB_GET_VERSION_SIZE,
  },
  [GNTTABOP.GNTTABOP_swap_grant_ref]: {
    layout: gnttab_swap_grant_ref_layout,
    size: GNTTAB_SWAP_GRANT_REF_SIZE,
  },
  [GNTTABOP.GNTTABOP_cache_flush]: {
    layout: gnttab_cache_flush_layout,
    size: GNTTAB_CACHE_FLUSH_SIZE,
  },
};
