/**
 * `xen/include/public/event_channel.h`: commands, status values and argument structures.
 * Argument objects use the C field names; OUT fields are written back on success only.
 */
import type { domid_t } from "./xen.js";

/** `evtchn_port_t` is a u32. */
export type evtchn_port_t = number;

export const EVTCHNOP = {
  EVTCHNOP_bind_interdomain: 0,
  EVTCHNOP_bind_virq: 1,
  EVTCHNOP_bind_pirq: 2,
  EVTCHNOP_close: 3,
  EVTCHNOP_send: 4,
  EVTCHNOP_status: 5,
  EVTCHNOP_alloc_unbound: 6,
  EVTCHNOP_bind_ipi: 7,
  EVTCHNOP_bind_vcpu: 8,
  EVTCHNOP_unmask: 9,
  EVTCHNOP_reset: 10,
  EVTCHNOP_init_control: 11,
  EVTCHNOP_expand_array: 12,
  EVTCHNOP_set_priority: 13,
  EVTCHNOP_reset_cont: 14,
} as const;
export type EvtchnOpName = keyof typeof EVTCHNOP;

/** `EVTCHNSTAT_*`: the `status` field of `evtchn_status`. */
export const EVTCHNSTAT = {
  EVTCHNSTAT_closed: 0,
  EVTCHNSTAT_unbound: 1,
  EVTCHNSTAT_interdomain: 2,
  EVTCHNSTAT_pirq: 3,
  EVTCHNSTAT_virq: 4,
  EVTCHNSTAT_ipi: 5,
} as const;

/** `BIND_PIRQ__WILL_SHARE`. */
export const BIND_PIRQ__WILL_SHARE = 1;

/** 2-level ABI: `EVTCHN_2L_NR_CHANNELS` for a 64-bit guest (64 words of 64 bits). */
export const EVTCHN_2L_NR_CHANNELS = 4096;
/** FIFO ABI: `EVTCHN_FIFO_NR_CHANNELS` (1 << EVTCHN_FIFO_LINK_BITS). */
export const EVTCHN_FIFO_NR_CHANNELS = 1 << 17;

/** FIFO priorities: `EVTCHN_FIFO_PRIORITY_MAX` (0) is the highest. */
export const EVTCHN_FIFO_PRIORITY_MAX = 0;
/** FIFO: the priority every port gets at bind and at the switch to FIFO. */
export const EVTCHN_FIFO_PRIORITY_DEFAULT = 7;
/** FIFO: the lowest priority; set_priority above it is -EINVAL. */
export const EVTCHN_FIFO_PRIORITY_MIN = 15;
/** FIFO: queues per vCPU, one per priority. */
export const EVTCHN_FIFO_MAX_QUEUES = EVTCHN_FIFO_PRIORITY_MIN + 1;
/** FIFO event word (`event_word_t`, u32) bit: the event is raised. */
export const EVTCHN_FIFO_PENDING = 31;
/** FIFO event word bit: the guest does not want the event queued. */
export const EVTCHN_FIFO_MASKED = 30;
/** FIFO event word bit: the word is on a queue. */
export const EVTCHN_FIFO_LINKED = 29;
/** FIFO event word bit: Xen is updating LINK; the guest must not clear MASKED meanwhile. */
export const EVTCHN_FIFO_BUSY = 28;
/** FIFO: width of the LINK field (bits 0..16); init_control returns it as `link_bits`. */
export const EVTCHN_FIFO_LINK_BITS = 17;
/** FIFO: mask of the LINK field. */
export const EVTCHN_FIFO_LINK_MASK = (1 << EVTCHN_FIFO_LINK_BITS) - 1;
/** FIFO (Xen-internal, `event_fifo.c`): event words per 4 KiB event-array page. */
export const EVTCHN_FIFO_EVENT_WORDS_PER_PAGE = 1024;
/** FIFO (Xen-internal, `event_fifo.c`): event-array pages at most (2^17 / 1024). */
export const EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES =
  EVTCHN_FIFO_NR_CHANNELS / EVTCHN_FIFO_EVENT_WORDS_PER_PAGE;
/** libxl's default `event_channels` (max_evtchn_port). */
export const LIBXL_DEFAULT_MAX_EVTCHN_PORT = 1023;
/** Ports per bucket in Xen (`EVTCHNS_PER_BUCKET`). */
export const EVTCHNS_PER_BUCKET = 64;

export interface evtchn_alloc_unbound {
  dom: domid_t;
  remote_dom: domid_t;
  /** OUT */
  port?: evtchn_port_t;
}
export interface evtchn_bind_interdomain {
  remote_dom: domid_t;
  remote_port: evtchn_port_t;
  /** OUT */
  local_port?: evtchn_port_t;
}
export interface evtchn_bind_virq {
  virq: number;
  vcpu: number;
  /** OUT */
  port?: evtchn_port_t;
}
export interface evtchn_bind_pirq {
  pirq: number;
  flags: number;
  /** OUT */
  port?: evtchn_port_t;
}
export interface evtchn_bind_ipi {
  vcpu: number;
  /** OUT */
  port?: evtchn_port_t;
}
export interface evtchn_close {
  port: evtchn_port_t;
}
export interface evtchn_send {
  port: evtchn_port_t;
}
export interface evtchn_unmask {
  port: evtchn_port_t;
}
export interface evtchn_bind_vcpu {
  port: evtchn_port_t;
  vcpu: number;
}
export interface evtchn_reset {
  dom: domid_t;
}
/** The `u` union of `evtchn_status`; which member is meaningful depends on `status`. */
export interface evtchn_status_u {
  unbound?: { dom: domid_t };
  interdomain?: { dom: domid_t; port: evtchn_port_t };
  pirq?: number;
  virq?: number;
}
export interface evtchn_status {
  dom: domid_t;
  port: evtchn_port_t;
  /** OUT: one of EVTCHNSTAT_*. */
  status?: number;
  /** OUT: the notify vCPU. */
  vcpu?: number;
  /** OUT */
  u?: evtchn_status_u;
}
export interface evtchn_init_control {
  control_gfn: number;
  offset: number;
  vcpu: number;
  /** OUT */
  link_bits?: number;
}
export interface evtchn_expand_array {
  array_gfn: number;
}
export interface evtchn_set_priority {
  port: evtchn_port_t;
  priority: number;
}

/** Maps each EVTCHNOP number to its argument structure. */
export interface EvtchnOpArgs {
  0: evtchn_bind_interdomain;
  1: evtchn_bind_virq;
  2: evtchn_bind_pirq;
  3: evtchn_close;
  4: evtchn_send;
  5: evtchn_status;
  6: evtchn_alloc_unbound;
  7: evtchn_bind_ipi;
  8: evtchn_bind_vcpu;
  9: evtchn_unmask;
  10: evtchn_reset;
  11: evtchn_init_control;
  12: evtchn_expand_array;
  13: evtchn_set_priority;
  14: evtchn_reset;
}

/**
 * The compat `struct evtchn_op { uint32_t cmd; union { ... } u; }` of HYPERVISOR_event_channel_op_compat
 * (hypercall 16): one command (0–9) and its argument.
 */
export interface evtchn_op {
  /** An EVTCHNOP_* command, 0..9 (the union holds no later one). */
  cmd: number;
  u: EvtchnOpArgs[keyof EvtchnOpArgs];
}
