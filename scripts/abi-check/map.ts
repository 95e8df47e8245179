/**
 * How our TypeScript ABI tables map onto the C declarations of Xen's public headers.
 *
 * Every layout table exported by `@pvkit/hypervisor-sim/abi` is named here with the C type it
 * models. A layout field name is a C member path (`arch.max_pfn`, `u.interdomain.port`), so
 * the C expression for a field is `prefix + field`; `prefix` selects a variant of a union
 * (`full_page.` in `union grant_entry_v2`).
 */

/** A layout table and the C type it describes. */
export interface StructMapping {
  /** The C type, e.g. `struct evtchn_status`. */
  readonly c: string;
  /** Name of the exported `<NAME>_SIZE` constant that must equal `sizeof(c)`, or null if none. */
  readonly size: string | null;
  /** Prepended to every field name to form the C member path. */
  readonly prefix?: string;
  /** A C expression compared with `size` instead of `sizeof(c)` (e.g. a header before a flexible tail). */
  readonly cSize?: string;
}

/** Exported layout name -> C type. */
export const STRUCTS: Readonly<Record<string, StructMapping>> = {
  // shared-info.ts (xen.h, arch-x86/xen.h)
  vcpu_time_info: { c: "struct vcpu_time_info", size: "VCPU_TIME_INFO_SIZE" },
  vcpu_info: { c: "struct vcpu_info", size: "VCPU_INFO_SIZE" },
  shared_info: { c: "struct shared_info", size: "SHARED_INFO_SIZE" },
  // grant-entry.ts (grant_table.h)
  grant_entry_v1: { c: "struct grant_entry_v1", size: "GRANT_ENTRY_V1_SIZE" },
  grant_entry_header: { c: "struct grant_entry_header", size: null },
  grant_entry_v2_full_page: {
    c: "union grant_entry_v2",
    size: "GRANT_ENTRY_V2_SIZE",
    prefix: "full_page.",
  },
  grant_entry_v2_sub_page: {
    c: "union grant_entry_v2",
    size: "GRANT_ENTRY_V2_SIZE",
    prefix: "sub_page.",
  },
  grant_entry_v2_transitive: {
    c: "union grant_entry_v2",
    size: "GRANT_ENTRY_V2_SIZE",
    prefix: "transitive.",
  },
  // start-info.ts (xen.h)
  start_info: { c: "struct start_info", size: "START_INFO_SIZE" },
  // evtchn-structs.ts (event_channel.h)
  evtchn_bind_interdomain_layout: {
    c: "struct evtchn_bind_interdomain",
    size: "EVTCHN_BIND_INTERDOMAIN_SIZE",
  },
  evtchn_bind_virq_layout: { c: "struct evtchn_bind_virq", size: "EVTCHN_BIND_VIRQ_SIZE" },
  evtchn_bind_pirq_layout: { c: "struct evtchn_bind_pirq", size: "EVTCHN_BIND_PIRQ_SIZE" },
  evtchn_close_layout: { c: "struct evtchn_close", size: "EVTCHN_CLOSE_SIZE" },
  evtchn_send_layout: { c: "struct evtchn_send", size: "EVTCHN_SEND_SIZE" },
  evtchn_status_layout: { c: "struct evtchn_status", size: "EVTCHN_STATUS_SIZE" },
  evtchn_alloc_unbound_layout: {
    c: "struct evtchn_alloc_unbound",
    size: "EVTCHN_ALLOC_UNBOUND_SIZE",
  },
  evtchn_bind_ipi_layout: { c: "struct evtchn_bind_ipi", size: "EVTCHN_BIND_IPI_SIZE" },
  evtchn_bind_vcpu_layout: { c: "struct evtchn_bind_vcpu", size: "EVTCHN_BIND_VCPU_SIZE" },
  evtchn_unmask_layout: { c: "struct evtchn_unmask", size: "EVTCHN_UNMASK_SIZE" },
  evtchn_reset_layout: { c: "struct evtchn_reset", size: "EVTCHN_RESET_SIZE" },
  evtchn_init_control_layout: { c: "struct evtchn_init_control", size: "EVTCHN_INIT_CONTROL_SIZE" },
  evtchn_expand_array_layout: { c: "struct evtchn_expand_array", size: "EVTCHN_EXPAND_ARRAY_SIZE" },
  evtchn_set_priority_layout: { c: "struct evtchn_set_priority", size: "EVTCHN_SET_PRIORITY_SIZE" },
  evtchn_fifo_control_block_layout: {
    c: "struct evtchn_fifo_control_block",
    size: "EVTCHN_FIFO_CONTROL_BLOCK_SIZE",
  },
  evtchn_op_layout: { c: "struct evtchn_op", size: "EVTCHN_OP_SIZE" },
  // sched.ts (sched.h)
  sched_poll_layout: { c: "struct sched_poll", size: "SCHED_POLL_SIZE" },
  sched_shutdown_layout: { c: "struct sched_shutdown", size: "SCHED_SHUTDOWN_SIZE" },
  sched_remote_shutdown_layout: {
    c: "struct sched_remote_shutdown",
    size: "SCHED_REMOTE_SHUTDOWN_SIZE",
  },
  // vcpu.ts (vcpu.h)
  vcpu_set_singleshot_timer_layout: {
    c: "struct vcpu_set_singleshot_timer",
    size: "VCPU_SET_SINGLESHOT_TIMER_SIZE",
  },
  vcpu_runstate_info_layout: { c: "struct vcpu_runstate_info", size: "VCPU_RUNSTATE_INFO_SIZE" },
  vcpu_register_runstate_memory_area_layout: {
    c: "struct vcpu_register_runstate_memory_area",
    size: "VCPU_REGISTER_RUNSTATE_MEMORY_AREA_SIZE",
  },
  // memory.ts (memory.h)
  xen_add_to_physmap_layout: { c: "struct xen_add_to_physmap", size: "XEN_ADD_TO_PHYSMAP_SIZE" },
  xen_add_to_physmap_batch_layout: {
    c: "struct xen_add_to_physmap_batch",
    size: "XEN_ADD_TO_PHYSMAP_BATCH_SIZE",
  },
  xen_remove_from_physmap_layout: {
    c: "struct xen_remove_from_physmap",
    size: "XEN_REMOVE_FROM_PHYSMAP_SIZE",
  },
  // domctl.ts (domctl.h)
  xen_domctl_layout: { c: "struct xen_domctl", size: "XEN_DOMCTL_SIZE" },
  xen_domctl_irq_permission_layout: {
    c: "struct xen_domctl_irq_permission",
    size: "XEN_DOMCTL_IRQ_PERMISSION_SIZE",
  },
  // gnttab-structs.ts (grant_table.h)
  gnttab_map_grant_ref_layout: {
    c: "struct gnttab_map_grant_ref",
    size: "GNTTAB_MAP_GRANT_REF_SIZE",
  },
  gnttab_unmap_grant_ref_layout: {
    c: "struct gnttab_unmap_grant_ref",
    size: "GNTTAB_UNMAP_GRANT_REF_SIZE",
  },
  gnttab_setup_table_layout: { c: "struct gnttab_setup_table", size: "GNTTAB_SETUP_TABLE_SIZE" },
  gnttab_dump_table_layout: { c: "struct gnttab_dump_table", size: "GNTTAB_DUMP_TABLE_SIZE" },
  gnttab_transfer_layout: { c: "struct gnttab_transfer", size: "GNTTAB_TRANSFER_SIZE" },
  gnttab_copy_layout: { c: "struct gnttab_copy", size: "GNTTAB_COPY_SIZE" },
  gnttab_copy_ptr_layout: { c: "struct gnttab_copy_ptr", size: "GNTTAB_COPY_PTR_SIZE" },
  gnttab_query_size_layout: { c: "struct gnttab_query_size", size: "GNTTAB_QUERY_SIZE_SIZE" },
  gnttab_unmap_and_replace_layout: {
    c: "struct gnttab_unmap_and_replace",
    size: "GNTTAB_UNMAP_AND_REPLACE_SIZE",
  },
  gnttab_set_version_layout: { c: "struct gnttab_set_version", size: "GNTTAB_SET_VERSION_SIZE" },
  gnttab_get_status_frames_layout: {
    c: "struct gnttab_get_status_frames",
    size: "GNTTAB_GET_STATUS_FRAMES_SIZE",
  },
  gnttab_get_version_layout: { c: "struct gnttab_get_version", size: "GNTTAB_GET_VERSION_SIZE" },
  gnttab_swap_grant_ref_layout: {
    c: "struct gnttab_swap_grant_ref",
    size: "GNTTAB_SWAP_GRANT_REF_SIZE",
  },
  gnttab_cache_flush_layout: { c: "struct gnttab_cache_flush", size: "GNTTAB_CACHE_FLUSH_SIZE" },
  // io/*.ts. io/ring.h only defines rings through DEFINE_RING_TYPES, so the generic sring
  // header is checked on blkif's instance, up to its first entry.
  sring: {
    c: "struct blkif_sring",
    size: "SRING_RING_OFFSET",
    cSize: "offsetof(struct blkif_sring, ring)",
  },
  xencons_interface: { c: "struct xencons_interface", size: "XENCONS_INTERFACE_SIZE" },
  // io/blkif.ts: the native (x86_64-abi) structs; the x86_32-abi tables and
  // blkif_request_other are not in the public headers (pinned in test/abi/io/blkif.test.ts).
  blkif_request_segment: { c: "struct blkif_request_segment", size: "BLKIF_REQUEST_SEGMENT_SIZE" },
  blkif_request: { c: "struct blkif_request", size: "BLKIF_REQUEST_SIZE" },
  blkif_request_discard: { c: "struct blkif_request_discard", size: "BLKIF_REQUEST_DISCARD_SIZE" },
  blkif_request_indirect: {
    c: "struct blkif_request_indirect",
    size: "BLKIF_REQUEST_INDIRECT_SIZE",
  },
  blkif_response: { c: "struct blkif_response", size: "BLKIF_RESPONSE_SIZE" },
  xenstore_domain_interface: {
    c: "struct xenstore_domain_interface",
    size: "XENSTORE_DOMAIN_INTERFACE_SIZE",
  },
  // io/xs-wire.ts (io/xs_wire.h)
  xsd_sockmsg: { c: "struct xsd_sockmsg", size: "XSD_SOCKMSG_SIZE" },
};

/** Exported size constants of plain C types (no layout table): constant -> C type. */
export const SCALAR_SIZES: Readonly<Record<string, string>> = {
  GRANT_STATUS_SIZE: "grant_status_t",
  BLKIF_SRING_ENTRY_SIZE: "union blkif_sring_entry",
};

/** Exported byte-offset constants: constant -> [C type, member path]. */
export const OFFSETS: Readonly<Record<string, readonly [string, string]>> = {
  SHINFO_EVTCHN_PENDING: ["struct shared_info", "evtchn_pending"],
  SHINFO_EVTCHN_MASK: ["struct shared_info", "evtchn_mask"],
  VCPU_INFO_UPCALL_PENDING: ["struct vcpu_info", "evtchn_upcall_pending"],
  VCPU_INFO_UPCALL_MASK: ["struct vcpu_info", "evtchn_upcall_mask"],
  VCPU_INFO_PENDING_SEL: ["struct vcpu_info", "evtchn_pending_sel"],
  VCPU_INFO_TIME: ["struct vcpu_info", "time"],
  EVTCHN_OP_U_OFFSET: ["struct evtchn_op", "u"],
};

/**
 * Exported `as const` tables whose keys are C macro names and whose values must equal them.
 * Keys absent from the headers fail the check unless listed in ABSENT_OK.
 */
export const CONSTANT_TABLES: readonly string[] = [
  "HYPERCALL",
  "EVTCHNOP",
  "EVTCHNSTAT",
  "VIRQ",
  "GNTTABOP",
  "GTF",
  "GNTMAP",
  "GNTCOPY",
  "GNTST",
  "GNTTAB_CACHE",
  "SCHEDOP",
  "SHUTDOWN",
  "VCPUOP",
  "XENMEM",
  "XENMAPSPACE",
  "XENVER",
  "RUNSTATE",
  "SIF",
  "BLKIF_OP",
  "BLKIF_RSP",
  "VDISK",
];

/** Single exported constants whose name is also the C macro name. */
export const CONSTANTS: readonly string[] = [
  "DOMID_FIRST_RESERVED",
  "DOMID_SELF",
  "DOMID_IO",
  "DOMID_XEN",
  "DOMID_COW",
  "DOMID_INVALID",
  "DOMID_IDLE",
  "DOMID_MASK",
  "XEN_LEGACY_MAX_VCPUS",
  "NR_VIRQS",
  "VIRQ_MCA",
  "BIND_PIRQ__WILL_SHARE",
  "EVTCHN_FIFO_NR_CHANNELS",
  "EVTCHN_FIFO_PRIORITY_MAX",
  "EVTCHN_FIFO_PRIORITY_DEFAULT",
  "EVTCHN_FIFO_PRIORITY_MIN",
  "EVTCHN_FIFO_MAX_QUEUES",
  "EVTCHN_FIFO_PENDING",
  "EVTCHN_FIFO_MASKED",
  "EVTCHN_FIFO_LINKED",
  "EVTCHN_FIFO_BUSY",
  "EVTCHN_FIFO_LINK_BITS",
  "EVTCHN_FIFO_LINK_MASK",
  "EVTCHN_2L_NR_CHANNELS",
  "GNTTAB_NR_RESERVED_ENTRIES",
  "GNTTAB_RESERVED_CONSOLE",
  "GNTTAB_RESERVED_XENSTORE",
  "XEN_PVCLOCK_TSC_STABLE_BIT",
  "XEN_PVCLOCK_GUEST_STOPPED",
  "VCPU_SSHOTTMR_future",
  "XENMAPIDX_grant_table_status",
  "__HYPERVISOR_domctl",
  "XEN_DOMCTL_irq_permission",
  "XEN_DOMCTL_INTERFACE_VERSION",
  "MAX_GUEST_CMDLINE",
  "XEN_PAGE_SHIFT",
  "XENSTORE_PAYLOAD_MAX",
  "XENSTORE_ABS_PATH_MAX",
  "XENSTORE_REL_PATH_MAX",
  "BLKIF_DISCARD_SECURE",
  "BLKIF_MAX_SEGMENTS_PER_REQUEST",
  "BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST",
];

/** Names we export that the public headers (as included with -D__XEN_TOOLS__) do not define. */
export const ABSENT_OK: Readonly<Record<string, string>> = {
  EVTCHNOP_reset_cont: "defined only under __XEN__ (hypervisor-internal continuation)",
};
