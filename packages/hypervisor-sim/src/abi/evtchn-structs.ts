/**
 * Byte layouts of the `EVTCHNOP_*` argument structures (`xen/include/public/event_channel.h`,
 * x86_64) and of the compat `struct evtchn_op` taken by hypercall 16. (`struct sched_poll` and
 * `struct vcpu_set_singleshot_timer`, through which a guest waits for events without an
 * event-channel op, are in `sched.ts` and `vcpu.ts`.)
 *
 * The layout names carry a `_layout` suffix because `event-channel.ts` already exports the
 * decoded argument objects under the bare Xen struct names. Fields the C compiler pads
 * implicitly (e.g. the 2 bytes after `evtchn_bind_interdomain.remote_dom`) have no entry;
 * explicit pad members (`_pad`) do. Checked against the real headers by `pnpm abi-check`.
 *
 * What these layouts are for: they are the C form of each argument, pinned to the real header
 * by `pnpm abi-check`, and the reference the decoded argument objects (`event-channel.ts`) are checked
 * against: each object interface has exactly its layout's top-level members other than padding
 * (`test/abi/hypercall-args.test.ts`). Code that holds an argument as bytes (in guest memory, in
 * a recorded trace) decodes it with them, by command through `EVTCHNOP_ARG`. The simulator's
 * hypercalls never read them: `Hypercalls` takes the decoded objects.
 *
 * ```
 * evtchn_status (24 bytes)
 *  0      2      4             8        12       16                      24
 *  +------+------+-------------+--------+--------+-----------------------+
 *  | dom  | pad  | port        | status | vcpu   | u (8, see below)      |
 *  +------+------+-------------+--------+--------+-----------------------+
 *  u.unbound.dom @16/2  u.interdomain.dom @16/2  u.interdomain.port @20/4
 *  u.pirq @16/4         u.virq @16/4
 * ```
 */
import type { Layout } from "./struct.js";
import { EVTCHNOP } from "./event-channel.js";

/** `struct evtchn_bind_interdomain { domid_t remote_dom; evtchn_port_t remote_port; evtchn_port_t local_port; };` */
export const EVTCHN_BIND_INTERDOMAIN_SIZE = 12;
export const evtchn_bind_interdomain_layout = {
  remote_dom: [0, 2],
  remote_port: [4, 4],
  local_port: [8, 4],
} as const satisfies Layout;

/** `struct evtchn_bind_virq { uint32_t virq; uint32_t vcpu; evtchn_port_t port; };` */
export const EVTCHN_BIND_VIRQ_SIZE = 12;
export const evtchn_bind_virq_layout = {
  virq: [0, 4],
  vcpu: [4, 4],
  port: [8, 4],
} as const satisfies Layout;

/** `struct evtchn_bind_pirq { uint32_t pirq; uint32_t flags; evtchn_port_t port; };` (flags: BIND_PIRQ__*) */
export const EVTCHN_BIND_PIRQ_SIZE = 12;
export const evtchn_bind_pirq_layout = {
  pirq: [0, 4],
  flags: [4, 4],
  port: [8, 4],
} as const satisfies Layout;

/** `struct evtchn_close { evtchn_port_t port; };` */
export const EVTCHN_CLOSE_SIZE = 4;
export const evtchn_close_layout = {
  port: [0, 4],
} as const satisfies Layout;

/** `struct evtchn_send { evtchn_port_t port; };` */
export const EVTCHN_SEND_SIZE = 4;
export const evtchn_send_layout = {
  port: [0, 4],
} as const satisfies Layout;

/**
 * `struct evtchn_status { domid_t dom; evtchn_port_t port; uint32_t status; uint32_t vcpu;
 *   union { struct { domid_t dom; } unbound; struct { domid_t dom; evtchn_port_t port; } interdomain;
 *           uint32_t pirq; uint32_t virq; } u; };`
 * Which `u` member is meaningful depends on `status` (EVTCHNSTAT_*).
 */
export const EVTCHN_STATUS_SIZE = 24;
export const evtchn_status_layout = {
  dom: [0, 2],
  port: [4, 4],
  status: [8, 4],
  vcpu: [12, 4],
  u: [16, 8],
  "u.unbound.dom": [16, 2],
  "u.interdomain.dom": [16, 2],
  "u.interdomain.port": [20, 4],
  "u.pirq": [16, 4],
  "u.virq": [16, 4],
} as const satisfies Layout;

/** `struct evtchn_alloc_unbound { domid_t dom, remote_dom; evtchn_port_t port; };` */
export const EVTCHN_ALLOC_UNBOUND_SIZE = 8;
export const evtchn_alloc_unbound_layout = {
  dom: [0, 2],
  remote_dom: [2, 2],
  port: [4, 4],
} as const satisfies Layout;

/** `struct evtchn_bind_ipi { uint32_t vcpu; evtchn_port_t port; };` */
export const EVTCHN_BIND_IPI_SIZE = 8;
export const evtchn_bind_ipi_layout = {
  vcpu: [0, 4],
  port: [4, 4],
} as const satisfies Layout;

/** `struct evtchn_bind_vcpu { evtchn_port_t port; uint32_t vcpu; };` */
export const EVTCHN_BIND_VCPU_SIZE = 8;
export const evtchn_bind_vcpu_layout = {
  port: [0, 4],
  vcpu: [4, 4],
} as const satisfies Layout;

/** `struct evtchn_unmask { evtchn_port_t port; };` */
export const EVTCHN_UNMASK_SIZE = 4;
export const evtchn_unmask_layout = {
  port: [0, 4],
} as const satisfies Layout;

/** `struct evtchn_reset { domid_t dom; };` (also the argument of EVTCHNOP_reset_cont) */
export const EVTCHN_RESET_SIZE = 2;
export const evtchn_reset_layout = {
  dom: [0, 2],
} as const satisfies Layout;

/**
 * `struct evtchn_init_control { uint64_t control_gfn; uint32_t offset; uint32_t vcpu;
 *   uint8_t link_bits; uint8_t _pad[7]; };` (FIFO ABI)
 */
export const EVTCHN_INIT_CONTROL_SIZE = 24;
export const evtchn_init_control_layout = {
  control_gfn: [0, 8],
  offset: [8, 4],
  vcpu: [12, 4],
  link_bits: [16, 1],
  _pad: [17, 7],
} as const satisfies Layout;

/** `struct evtchn_expand_array { uint64_t array_gfn; };` (FIFO ABI) */
export const EVTCHN_EXPAND_ARRAY_SIZE = 8;
export const evtchn_expand_array_layout = {
  array_gfn: [0, 8],
} as const satisfies Layout;

/** `struct evtchn_set_priority { evtchn_port_t port; uint32_t priority; };` (FIFO ABI) */
export const EVTCHN_SET_PRIORITY_SIZE = 8;
export const evtchn_set_priority_layout = {
  port: [0, 4],
  priority: [4, 4],
} as const satisfies Layout;

/**
 * `struct evtchn_fifo_control_block { uint32_t ready; uint32_t _rsvd;
 *   uint32_t head[EVTCHN_FIFO_MAX_QUEUES]; };` (FIFO ABI): one per vCPU, in a guest page at the
 * offset given to EVTCHNOP_init_control. Xen writes `head[q]` only when queue q was empty.
 */
export const EVTCHN_FIFO_CONTROL_BLOCK_SIZE = 72;
export const evtchn_fifo_control_block_layout = {
  ready: [0, 4],
  _rsvd: [4, 4],
  head: [8, 64],
} as const satisfies Layout;

/**
 * `struct evtchn_op { uint32_t cmd; union { evtchn_alloc_unbound_t alloc_unbound; ...;
 *   evtchn_unmask_t unmask; } u; };` — the argument of the compat hypercall 16
 * (`__HYPERVISOR_event_channel_op_compat`). The union holds only commands 0–9; its largest
 * member is `evtchn_status` (24 bytes) and its alignment is 4, so `u` starts at 4.
 */
export const EVTCHN_OP_SIZE = 28;
export const evtchn_op_layout = {
  cmd: [0, 4],
  u: [4, 24],
  "u.alloc_unbound": [4, 8],
  "u.bind_interdomain": [4, 12],
  "u.bind_virq": [4, 12],
  "u.bind_pirq": [4, 12],
  "u.bind_ipi": [4, 8],
  "u.close": [4, 4],
  "u.send": [4, 4],
  "u.status": [4, 24],
  "u.bind_vcpu": [4, 8],
  "u.unmask": [4, 4],
} as const satisfies Layout;
/** Byte offset of the argument union inside `struct evtchn_op`. */
export const EVTCHN_OP_U_OFFSET = 4;

/** A struct's layout and `sizeof`, for code that copies an argument in from guest memory. */
export interface StructLayout {
  readonly layout: Layout;
  /** `sizeof` in bytes. */
  readonly size: number;
}

/**
 * The argument structure of each `EVTCHNOP_*` command, keyed by command number
 * (HYPERVISOR_event_channel_op, hypercall 32). EVTCHNOP_reset_cont takes `evtchn_reset`.
 */
export const EVTCHNOP_ARG: Readonly<Record<number, StructLayout>> = {
  [EVTCHNOP.EVTCHNOP_bind_interdomain]: {
    layout: evtchn_bind_interdomain_layout,
    size: EVTCHN_BIND_INTERDOMAIN_SIZE,
  },
  [EVTCHNOP.EVTCHNOP_bind_virq]: { layout: evtchn_bind_virq_layout, size: EVTCHN_BIND_VIRQ_SIZE },
  [EVTCHNOP.EVTCHNOP_bind_pirq]: { layout: evtchn_bind_pirq_layout, size: EVTCHN_BIND_PIRQ_SIZE },
  [EVTCHNOP.EVTCHNOP_close]: { layout: evtchn_close_layout, size: EVTCHN_CLOSE_SIZE },
  [EVTCHNOP.EVTCHNOP_send]: { layout: evtchn_send_layout, size: EVTCHN_SEND_SIZE },
  [EVTCHNOP.EVTCHNOP_status]: { layout: evtchn_status_layout, size: EVTCHN_STATUS_SIZE },
  [EVTCHNOP.EVTCHNOP_alloc_unbound]: {
    layout: evtchn_alloc_unbound_layout,
    size: EVTCHN_ALLOC_UNBOUND_SIZE,
  },
  [EVTCHNOP.EVTCHNOP_bind_ipi]: { layout: evtchn_bind_ipi_layout, size: EVTCHN_BIND_IPI_SIZE },
  [EVTCHNOP.EVTCHNOP_bind_vcpu]: { layout: evtchn_bind_vcpu_layout, size: EVTCHN_BIND_VCPU_SIZE },
  [EVTCHNOP.EVTCHNOP_unmask]: { layout: evtchn_unmask_layout, size: EVTCHN_UNMASK_SIZE },
  [EVTCHNOP.EVTCHNOP_reset]: { layout: evtchn_reset_layout, size: EVTCHN_RESET_SIZE },
  [EVTCHNOP.EVTCHNOP_init_control]: {
    layout: evtchn_init_control_layout,
    size: EVTCHN_INIT_CONTROL_SIZE,
  },
  [EVTCHNOP.EVTCHNOP_expand_array]: {
    layout: evtchn_expand_array_layout,
    size: EVTCHN_EXPAND_ARRAY_SIZE,
  },
  [EVTCHNOP.EVTCHNOP_set_priority]: {
    layout: evtchn_set_priority_layout,
    size: EVTCHN_SET_PRIORITY_SIZE,
  },
  [EVTCHNOP.EVTCHNOP_reset_cont]: { layout: evtchn_reset_layout, size: EVTCHN_RESET_SIZE },
};
