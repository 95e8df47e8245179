/**
 * The block device protocol of `xen/include/public/io/blkif.h` (Xen 4.17), with the protocol
 * names of `io/protocols.h`, for both ring ABIs a backend serves: `x86_64-abi` (the native
 * layout below) and `x86_32-abi` (the i386 layout, where a `uint64_t` is 4-aligned).
 *
 * ```
 * x86_64-abi                                 offset  size      x86_32-abi offset
 * struct blkif_request_segment {                                 (same on both)
 *     grant_ref_t gref;                      0       4
 *     uint8_t first_sect, last_sect;         4, 5    1, 1      inclusive 512-byte sectors 0..7
 * };                                         sizeof = 8 (2 bytes tail padding)
 *
 * struct blkif_request {          // READ, WRITE, WRITE_BARRIER, FLUSH_DISKCACHE
 *     uint8_t        operation;              0       1         0
 *     uint8_t        nr_segments;            1       1         1
 *     blkif_vdev_t   handle;                 2       2         2
 *     uint64_t       id;                     8       8         4
 *     blkif_sector_t sector_number;          16      8         12
 *     struct blkif_request_segment seg[11];  24      88        20
 * };                                         sizeof = 112      108
 *
 * struct blkif_request_discard {  // DISCARD
 *     uint8_t operation, flag;               0, 1    1, 1      0, 1   flag: BLKIF_DISCARD_SECURE
 *     blkif_vdev_t handle;                   2       2         2
 *     uint64_t id;                           8       8         4
 *     blkif_sector_t sector_number;          16      8         12
 *     uint64_t nr_sectors;                   24      8         20
 * };                                         sizeof = 32       28
 *
 * struct blkif_request_indirect { // INDIRECT
 *     uint8_t operation, indirect_op;        0, 1    1, 1      0, 1   indirect_op: READ or WRITE
 *     uint16_t nr_segments;                  2       2         2
 *     uint64_t id;                           8       8         4
 *     blkif_sector_t sector_number;          16      8         12
 *     blkif_vdev_t handle;                   24      2         20
 *     grant_ref_t indirect_grefs[8];         28      32        24
 *     (i386 only) uint64_t pad;              -       -         56
 * };                                         sizeof = 64       64
 *
 * any other operation (Linux common.h `blkif_x86_*_request_other`): only the id is meaningful
 *     uint8_t operation;                     0       1         0
 *     uint64_t id;                           8       8         4
 *                                            extent = 16       12
 *
 * struct blkif_response {
 *     uint64_t id;                           0       8         0
 *     uint8_t  operation;                    8       1         8
 *     int16_t  status;                       10      2         10     BLKIF_RSP_*
 * };                                         sizeof = 16       12
 *
 * DEFINE_RING_TYPES(blkif, struct blkif_request, struct blkif_response);
 * union blkif_sring_entry                    sizeof = 112      108 (blkif_x86_32_sring_entry)
 * ```
 *
 * Xen's header declares only the native structs; the `x86_32-abi` tables are those structs as
 * gcc lays them out for i386, which is what Linux blkback's `common.h` spells out with packed
 * `struct blkif_x86_32_request{,_rw,_discard,_other,_indirect}` (Linux names the discard
 * `handle` `_pad1`). Every request variant keeps `id` at one offset (8, or 4 on x86_32), so a
 * backend can answer an operation it does not know. A one-page ring holds
 * `__RD32((4096 - 64) / 112)` = 32 entries on both ABIs (`__RD32(37)` = 32 on x86_32).
 */
import type { Layout } from "../struct.js";

/** `BLKIF_OP_*`: the `operation` byte of a request (echoed in the response). */
export const BLKIF_OP = {
  BLKIF_OP_READ: 0,
  BLKIF_OP_WRITE: 1,
  /** Needs `feature-barrier`; Linux blkback drains in-flight I/O, then flushes. */
  BLKIF_OP_WRITE_BARRIER: 2,
  /** Needs `feature-flush-cache`; may carry 0 segments. */
  BLKIF_OP_FLUSH_DISKCACHE: 3,
  /** Reserved (SLES device-specific commands); Linux blkback answers BLKIF_RSP_EOPNOTSUPP. */
  BLKIF_OP_RESERVED_1: 4,
  /** Uses `struct blkif_request_discard`; needs `feature-discard`. */
  BLKIF_OP_DISCARD: 5,
  /** Uses `struct blkif_request_indirect`; needs `feature-max-indirect-segments`. */
  BLKIF_OP_INDIRECT: 6,
} as const;
/** One of the `BLKIF_OP_*` values. */
export type BlkifOp = (typeof BLKIF_OP)[keyof typeof BLKIF_OP];

/** `BLKIF_RSP_*`: the `status` of a response (s16). */
export const BLKIF_RSP = {
  /** Operation not supported (the frontend turns the feature off). */
  BLKIF_RSP_EOPNOTSUPP: -2,
  /** Operation failed for some unspecified reason (-EIO). */
  BLKIF_RSP_ERROR: -1,
  BLKIF_RSP_OKAY: 0,
} as const;
/** One of the `BLKIF_RSP_*` values. */
export type BlkifRsp = (typeof BLKIF_RSP)[keyof typeof BLKIF_RSP];

/** `VDISK_*`: bits of the backend's `info` node. */
export const VDISK = {
  VDISK_CDROM: 0x1,
  VDISK_REMOVABLE: 0x2,
  VDISK_READONLY: 0x4,
} as const;

/** `BLKIF_DISCARD_SECURE`: bit of a discard's `flag` (ignored unless `discard-secure` = 1). */
export const BLKIF_DISCARD_SECURE = 1 << 0;
/** `BLKIF_MAX_SEGMENTS_PER_REQUEST`: segments in a direct request (`seg[]`). */
export const BLKIF_MAX_SEGMENTS_PER_REQUEST = 11;
/** `BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST`: entries of `indirect_grefs[]`. */
export const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST = 8;
/**
 * Segments in one 4 KiB indirect page: `XEN_PAGE_SIZE / sizeof(struct blkif_request_segment)`
 * (Linux blkback `SEGS_PER_INDIRECT_FRAME` with 4 KiB guest pages).
 */
export const SEGS_PER_INDIRECT_FRAME = 512;

/** `XEN_IO_PROTO_ABI_X86_64` (io/protocols.h): the frontend's `protocol` node for the native layout. */
export const XEN_IO_PROTO_ABI_X86_64 = "x86_64-abi";
/** `XEN_IO_PROTO_ABI_X86_32` (io/protocols.h): the frontend's `protocol` node for the i386 layout. */
export const XEN_IO_PROTO_ABI_X86_32 = "x86_32-abi";

// ---- x86_64-abi (native) ------------------------------------------------------------------

/** `struct blkif_request_segment` (both ABIs): an inclusive sector range of one granted frame. */
export const blkif_request_segment = {
  gref: [0, 4],
  first_sect: [4, 1],
  last_sect: [5, 1],
} as const satisfies Layout;
/** `sizeof(struct blkif_request_segment)` on both ABIs. */
export const BLKIF_REQUEST_SEGMENT_SIZE = 8;

/** `struct blkif_request`: read, write, barrier and flush. */
export const blkif_request = {
  operation: [0, 1],
  nr_segments: [1, 1],
  handle: [2, 2],
  id: [8, 8],
  sector_number: [16, 8],
  seg: [24, 88],
} as const satisfies Layout;
/** `sizeof(struct blkif_request)`. */
export const BLKIF_REQUEST_SIZE = 112;

/** `struct blkif_request_discard`. */
export const blkif_request_discard = {
  operation: [0, 1],
  flag: [1, 1],
  handle: [2, 2],
  id: [8, 8],
  sector_number: [16, 8],
  nr_sectors: [24, 8],
} as const satisfies Layout;
/** `sizeof(struct blkif_request_discard)`. */
export const BLKIF_REQUEST_DISCARD_SIZE = 32;

/** Any other operation (Linux `struct blkif_x86_64_request_other` after `operation`). */
export const blkif_request_other = {
  operation: [0, 1],
  id: [8, 8],
} as const satisfies Layout;
/** Bytes of an "other" request: `1 + sizeof(struct blkif_x86_64_request_other)`. */
export const BLKIF_REQUEST_OTHER_SIZE = 16;

/** `struct blkif_request_indirect`. */
export const blkif_request_indirect = {
  operation: [0, 1],
  indirect_op: [1, 1],
  nr_segments: [2, 2],
  id: [8, 8],
  sector_number: [16, 8],
  handle: [24, 2],
  indirect_grefs: [28, 32],
} as const satisfies Layout;
/** `sizeof(struct blkif_request_indirect)`. */
export const BLKIF_REQUEST_INDIRECT_SIZE = 64;

/** `struct blkif_response`: bytes 9 and 12..15 are padding. */
export const blkif_response = {
  id: [0, 8],
  operation: [8, 1],
  status: [10, 2],
} as const satisfies Layout;
/** `sizeof(struct blkif_response)`. */
export const BLKIF_RESPONSE_SIZE = 16;

/** `sizeof(union blkif_sring_entry)`: the larger of request (112) and response (16). */
export const BLKIF_SRING_ENTRY_SIZE = 112;

// ---- x86_32-abi (i386 layout; Linux common.h names) --------------------------------------

/** `struct blkif_x86_32_request` (read, write, barrier, flush). */
export const blkif_x86_32_request = {
  operation: [0, 1],
  nr_segments: [1, 1],
  handle: [2, 2],
  id: [4, 8],
  sector_number: [12, 8],
  seg: [20, 88],
} as const satisfies Layout;
/** `sizeof(struct blkif_x86_32_request)`. */
export const BLKIF_X86_32_REQUEST_SIZE = 108;

/** `struct blkif_x86_32_request_discard` (Xen's i386 `handle` is Linux's `_pad1`). */
export const blkif_x86_32_request_discard = {
  operation: [0, 1],
  flag: [1, 1],
  handle: [2, 2],
  id: [4, 8],
  sector_number: [12, 8],
  nr_sectors: [20, 8],
} as const satisfies Layout;
/** Bytes of an x86_32 discard request: `1 + sizeof(struct blkif_x86_32_request_discard)`. */
export const BLKIF_X86_32_REQUEST_DISCARD_SIZE = 28;

/** `struct blkif_x86_32_request_other`, after `operation`. */
export const blkif_x86_32_request_other = {
  operation: [0, 1],
  id: [4, 8],
} as const satisfies Layout;
/** Bytes of an x86_32 "other" request: `1 + sizeof(struct blkif_x86_32_request_other)`. */
export const BLKIF_X86_32_REQUEST_OTHER_SIZE = 12;

/** `struct blkif_x86_32_request_indirect`; `pad` makes it 64 bytes, as on x86_64. */
export const blkif_x86_32_request_indirect = {
  operation: [0, 1],
  indirect_op: [1, 1],
  nr_segments: [2, 2],
  id: [4, 8],
  sector_number: [12, 8],
  handle: [20, 2],
  indirect_grefs: [24, 32],
  pad: [56, 8],
} as const satisfies Layout;
/** Bytes of an x86_32 indirect request: `1 + sizeof(struct blkif_x86_32_request_indirect)`. */
export const BLKIF_X86_32_REQUEST_INDIRECT_SIZE = 64;

/** `struct blkif_response` as i386 lays it out: byte 9 is padding, no tail padding. */
export const blkif_x86_32_response = {
  id: [0, 8],
  operation: [8, 1],
  status: [10, 2],
} as const satisfies Layout;
/** `sizeof(struct blkif_response)` on i386. */
export const BLKIF_X86_32_RESPONSE_SIZE = 12;

/** `sizeof(union blkif_x86_32_sring_entry)`: the request's 108 bytes. */
export const BLKIF_X86_32_SRING_ENTRY_SIZE = 108;
