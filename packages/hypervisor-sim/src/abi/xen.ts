/**
 * Core definitions of `xen/include/public/xen.h` (and the small `version.h`): hypercall
 * numbers, special domain ids, VIRQs, page size, XENVER_*. The scheduler, vCPU, memory and
 * domctl hypercalls have their own modules, one per header: `sched.ts`, `vcpu.ts`, `memory.ts`,
 * `domctl.ts`.
 */

/** `XEN_PAGE_SHIFT`: Xen pages are 4 KiB whatever the guest's own page size. */
export const XEN_PAGE_SHIFT = 12;
/** `XEN_PAGE_SIZE` in bytes. */
export const XEN_PAGE_SIZE = 4096;

/** `__HYPERVISOR_*` hypercall numbers (x86_64). */
export const HYPERCALL = {
  __HYPERVISOR_set_timer_op: 15,
  __HYPERVISOR_memory_op: 12,
  __HYPERVISOR_event_channel_op_compat: 16,
  __HYPERVISOR_xen_version: 17,
  __HYPERVISOR_console_io: 18,
  __HYPERVISOR_grant_table_op: 20,
  __HYPERVISOR_vcpu_op: 24,
  __HYPERVISOR_sched_op: 29,
  __HYPERVISOR_event_channel_op: 32,
  __HYPERVISOR_hvm_op: 34,
} as const;

/** `domid_t` is a u16. */
export type domid_t = number;

export const DOMID_FIRST_RESERVED = 0x7ff0;
export const DOMID_SELF = 0x7ff0;
export const DOMID_IO = 0x7ff1;
export const DOMID_XEN = 0x7ff2;
export const DOMID_COW = 0x7ff3;
export const DOMID_INVALID = 0x7ff4;
export const DOMID_IDLE = 0x7fff;
export const DOMID_MASK = 0x7fff;

/** `XEN_LEGACY_MAX_VCPUS` on x86: vCPUs with a `vcpu_info` slot in shared_info. */
export const XEN_LEGACY_MAX_VCPUS = 32;

/** VIRQ numbers (`VIRQ_*`). */
export const VIRQ = {
  VIRQ_TIMER: 0,
  VIRQ_DEBUG: 1,
  VIRQ_CONSOLE: 2,
  VIRQ_DOM_EXC: 3,
  VIRQ_TBUF: 4,
  VIRQ_DEBUGGER: 6,
  VIRQ_XENOPROF: 7,
  VIRQ_CON_RING: 8,
  VIRQ_PCPU_STATE: 9,
  VIRQ_MEM_EVENT: 10,
  VIRQ_ARGO: 11,
  VIRQ_ENOMEM: 12,
  VIRQ_XENPMU: 13,
  VIRQ_ARCH_0: 16,
  VIRQ_ARCH_1: 17,
  VIRQ_ARCH_2: 18,
  VIRQ_ARCH_3: 19,
  VIRQ_ARCH_4: 20,
  VIRQ_ARCH_5: 21,
  VIRQ_ARCH_6: 22,
  VIRQ_ARCH_7: 23,
} as const;
export type VirqName = keyof typeof VIRQ;

/** `NR_VIRQS`. */
export const NR_VIRQS = 24;
/** x86: `VIRQ_MCA` is `VIRQ_ARCH_0`. */
export const VIRQ_MCA = VIRQ.VIRQ_ARCH_0;

/** Whether a VIRQ is per-vCPU (Xen 4.17 `virq_is_global()` is false for exactly these four). */
export function virqIsPerVcpu(virq: number): boolean {
  return (
    virq === VIRQ.VIRQ_TIMER ||
    virq === VIRQ.VIRQ_DEBUG ||
    virq === VIRQ.VIRQ_XENOPROF ||
    virq === VIRQ.VIRQ_XENPMU
  );
}

/** `XENVER_*` (`version.h`), the ones a guest commonly issues. */
export const XENVER = {
  XENVER_version: 0,
  XENVER_extraversion: 1,
  XENVER_get_features: 6,
} as const;

/** `__HYPERVISOR_domctl` (privileged toolstack operations). */
export const __HYPERVISOR_domctl = 36;
