/**
 * Core definitions of `xen/include/public/xen.h` (and the few small headers it pulls in):
 * hypercall numbers, special domain ids, VIRQs, scheduler and vCPU operations, page size.
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

/** `SCHEDOP_*` (`sched.h`). */
export const SCHEDOP = {
  SCHEDOP_yield: 0,
  SCHEDOP_block: 1,
  SCHEDOP_shutdown: 2,
  SCHEDOP_poll: 3,
  SCHEDOP_remote_shutdown: 4,
  SCHEDOP_shutdown_code: 5,
  SCHEDOP_watchdog: 6,
  SCHEDOP_pin_override: 7,
} as const;

/** `SHUTDOWN_*` reasons (`sched.h`). */
export const SHUTDOWN = {
  SHUTDOWN_poweroff: 0,
  SHUTDOWN_reboot: 1,
  SHUTDOWN_suspend: 2,
  SHUTDOWN_crash: 3,
  SHUTDOWN_watchdog: 4,
  SHUTDOWN_soft_reset: 5,
} as const;

/** `VCPUOP_*` (`vcpu.h`). */
export const VCPUOP = {
  VCPUOP_initialise: 0,
  VCPUOP_up: 1,
  VCPUOP_down: 2,
  VCPUOP_is_up: 3,
  VCPUOP_get_runstate_info: 4,
  VCPUOP_register_runstate_memory_area: 5,
  VCPUOP_set_periodic_timer: 6,
  VCPUOP_stop_periodic_timer: 7,
  VCPUOP_set_singleshot_timer: 8,
  VCPUOP_stop_singleshot_timer: 9,
  VCPUOP_register_vcpu_info: 10,
  VCPUOP_send_nmi: 11,
  VCPUOP_get_physid: 12,
  VCPUOP_register_vcpu_time_memory_area: 13,
} as const;

/** `VCPU_SSHOTTMR_future`: fail with -ETIME if the timeout is already in the past. */
export const VCPU_SSHOTTMR_future = 1 << 0;

/** `XENMEM_*` memory_op commands used here (`memory.h`). */
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

/** `XENMAPSPACE_*` for XENMEM_add_to_physmap. */
export const XENMAPSPACE = {
  XENMAPSPACE_shared_info: 0,
  XENMAPSPACE_grant_table: 1,
  XENMAPSPACE_gmfn: 2,
  XENMAPSPACE_gmfn_range: 3,
  /** A frame of another domain; XENMEM_add_to_physmap_batch only. */
  XENMAPSPACE_gmfn_foreign: 4,
} as const;

/** `XENVER_*` (`version.h`), the ones a guest commonly issues. */
export const XENVER = {
  XENVER_version: 0,
  XENVER_extraversion: 1,
  XENVER_get_features: 6,
} as const;

/** `__HYPERVISOR_domctl` (privileged toolstack operations). */
export const __HYPERVISOR_domctl = 36;
/** `XEN_DOMCTL_irq_permission` (`domctl.h`): grant or revoke a domain's access to a PIRQ. */
export const XEN_DOMCTL_irq_permission = 19;
export interface xen_domctl_irq_permission {
  pirq: number;
  /** 1 to allow, 0 to revoke. */
  allow_access: number;
}
