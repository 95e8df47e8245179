/**
 * @pvkit/hypervisor-sim: a simulated Xen 4.17 (x86_64 ABI) for testing paravirtual drivers.
 *
 * ```ts
 * const hv = new Hypervisor();
 * const dom0 = hv.createDomain();          // the control domain
 * const domU = hv.createDomain({ vcpus: 2 });
 * const g = hv.guest(domU.domid);
 * const a = { dom: DOMID_SELF, remote_dom: 0, port: 0 };
 * g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, a); // a.port is written back
 * ```
 *
 * @module @pvkit/hypervisor-sim
 */
export { Hypervisor, type HypervisorOptions } from "./hypervisor.js";
export { Guest, type GuestMemory } from "./guest.js";
export { Hypercalls, XEN_VERSION } from "./hypercalls.js";
// The hypercall argument types, re-exported from their ABI modules (one per Xen header) for
// the signatures of Hypercalls.
export type { sched_poll, sched_shutdown } from "./abi/sched.js";
export type { vcpu_set_singleshot_timer } from "./abi/vcpu.js";
export type {
  xen_add_to_physmap,
  xen_add_to_physmap_batch,
  xen_remove_from_physmap,
} from "./abi/memory.js";
export type { xen_domctl } from "./abi/domctl.js";
export type { evtchn_op } from "./abi/event-channel.js";
export type { DomainInfo, DomainInfo as Domain, VcpuInfo } from "./domain/domain-info.js";
export type { DomainOptions, DomainState, ResolvedDomainOptions } from "./domain/domain.js";
export type { UpcallHandler } from "./domain/vcpu.js";
export { ECS, ECS_NAMES, type EcsName } from "./evtchn/port-table.js";
export {
  type Page,
  type ReadonlyPage,
  DeadMappingError,
  ReadOnlyMappingError,
} from "./memory/page.js";
export { PvkitError, ClosedError, type PvkitErrorCode } from "./pvkit-error.js";
export { GNTTAB_GFN_BASE } from "./memory/physmap.js";
export { Frame } from "./memory/frame.js";
export {
  Scheduler,
  StallError,
  QUIET_TURNS,
  type SchedulerOptions,
  type ChaosOptions,
  type TimerHandle,
  type ClockHold,
  type UntilOptions,
} from "./sched/scheduler.js";
export { describeBlocked } from "./sched/blocked-report.js";
export { Rng } from "./sched/rng.js";
export {
  setGrantMapFaultHook,
  GRANT_MAP_FAULT_STATUSES,
  type GrantMapFaultHook,
  type GrantMapFaultStatus,
  type GrantMapAttempt,
} from "./gnttab/map-fault-hook.js";
export type { PhysicalIrqs } from "./irq/interrupt-controller.js";
export {
  TraceBus,
  type TraceEvents,
  type TraceEventName,
  type HypercallTrace,
  type RaiseTrace,
  type UpcallTrace,
  type DomainTrace,
  type TimerTrace,
} from "./trace/events.js";
export * as abi from "./abi/index.js";
