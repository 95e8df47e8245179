// Expected numbers: /usr/include/xen/grant_table.h, Xen 4.17 (GTF, GNTTABOP, GNTMAP, GNTCOPY,
// GNTST); frame limits: INITIAL_NR_GRANT_FRAMES (asm-x86 grant_table.h) and the gnttab_max_frames
// and gnttab_max_maptrack_frames defaults of xen/common/grant_table.c.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_GRANT_FRAMES,
  DEFAULT_MAX_MAPTRACK_FRAMES,
  GNTCOPY,
  GNTMAP,
  GNTST,
  GNTTABOP,
  GTF,
  INITIAL_NR_GRANT_FRAMES,
  MAPTRACK_PER_PAGE,
  gntstName,
} from "@pvkit/hypervisor-sim/abi";

describe("grant_table.h constants", () => {
  it("numbers the GNTTABOP commands as grant_table.h does", () => {
    expect(GNTTABOP).toStrictEqual({
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
    });
  });

  it("defines the GTF flag values of grant_table.h", () => {
    expect(GTF).toStrictEqual({
      GTF_invalid: 0,
      GTF_permit_access: 1,
      GTF_accept_transfer: 2,
      GTF_transitive: 3,
      GTF_type_mask: 3,
      GTF_readonly: 0x4,
      GTF_reading: 0x8,
      GTF_writing: 0x10,
      GTF_PWT: 0x20,
      GTF_PCD: 0x40,
      GTF_PAT: 0x80,
      GTF_sub_page: 0x100,
      GTF_transfer_committed: 0x4,
      GTF_transfer_completed: 0x8,
    });
  });

  it("defines the GNTMAP and GNTCOPY flags of grant_table.h", () => {
    expect(GNTMAP).toStrictEqual({
      GNTMAP_device_map: 1,
      GNTMAP_host_map: 2,
      GNTMAP_readonly: 4,
      GNTMAP_application_map: 8,
      GNTMAP_contains_pte: 16,
      GNTMAP_guest_avail_mask: 0xffff0000,
    });
    expect(GNTCOPY).toStrictEqual({ GNTCOPY_source_gref: 1, GNTCOPY_dest_gref: 2 });
  });

  it("defines the GNTST status codes of grant_table.h", () => {
    expect(GNTST).toStrictEqual({
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
    });
    expect(gntstName(-13)).toBe("GNTST_no_space");
    expect(gntstName(-14)).toBeUndefined();
  });

  it("sizes tables as grant_table.c does: 1 initial frame, 64 max, 1024 maptrack frames of 256", () => {
    expect(INITIAL_NR_GRANT_FRAMES).toBe(1);
    expect(DEFAULT_MAX_GRANT_FRAMES).toBe(64);
    expect(DEFAULT_MAX_MAPTRACK_FRAMES).toBe(1024);
    expect(MAPTRACK_PER_PAGE).toBe(256);
  });
});
