/**
 * Grant table entries as they sit in a domain's grant-table frames (`grant_table.h`).
 *
 * ```
 * struct grant_entry_v1 { u16 flags; domid_t domid; u32 frame; };        // 8 bytes, 512 per frame
 *
 * union grant_entry_v2 {                                                 // 16 bytes, 256 per frame
 *   struct grant_entry_header { u16 flags; domid_t domid; } hdr;
 *   struct { hdr; u32 pad0; u64 frame; } full_page;
 *   struct { hdr; u16 page_off; u16 length; u64 frame; } sub_page;
 *   struct { hdr; domid_t trans_domid; u16 pad0; grant_ref_t gref; } transitive;
 *   u32 __spacer[4];
 * };
 * typedef u16 grant_status_t;                                            // v2 status frames
 * ```
 */
import type { Layout } from "./struct.js";

export const GRANT_ENTRY_V1_SIZE = 8;
export const grant_entry_v1 = {
  flags: [0, 2],
  domid: [2, 2],
  frame: [4, 4],
} as const satisfies Layout;
/** v1 entries per 4 KiB frame. */
export const GRANT_ENTRIES_V1_PER_FRAME = 4096 / GRANT_ENTRY_V1_SIZE;

export const GRANT_ENTRY_V2_SIZE = 16;
export const grant_entry_header = {
  flags: [0, 2],
  domid: [2, 2],
} as const satisfies Layout;
export const grant_entry_v2_full_page = {
  "hdr.flags": [0, 2],
  "hdr.domid": [2, 2],
  pad0: [4, 4],
  frame: [8, 8],
} as const satisfies Layout;
export const grant_entry_v2_sub_page = {
  "hdr.flags": [0, 2],
  "hdr.domid": [2, 2],
  page_off: [4, 2],
  length: [6, 2],
  frame: [8, 8],
} as const satisfies Layout;
export const grant_entry_v2_transitive = {
  "hdr.flags": [0, 2],
  "hdr.domid": [2, 2],
  trans_domid: [4, 2],
  pad0: [6, 2],
  gref: [8, 4],
} as const satisfies Layout;
/** v2 entries per 4 KiB frame. */
export const GRANT_ENTRIES_V2_PER_FRAME = 4096 / GRANT_ENTRY_V2_SIZE;
/** `sizeof(grant_status_t)`. */
export const GRANT_STATUS_SIZE = 2;
/** Status entries per status frame. */
export const GRANT_STATUS_PER_FRAME = 4096 / GRANT_STATUS_SIZE;
