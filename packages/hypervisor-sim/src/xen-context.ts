/**
 * What the subsystems (event channels, grant tables, memory, the hypercall handlers) need of the
 * simulated Xen they run in: its clock and scheduler, trace bus, machine memory, interrupt
 * controller and domain table. Internal to the package: `Hypervisor` provides it, and nothing
 * outside the simulator sees it.
 */
import type { Domain } from "./domain/domain.js";
import type { InterruptController } from "./irq/interrupt-controller.js";
import type { MachineMemory } from "./memory/frame.js";
import type { Scheduler } from "./sched/scheduler.js";
import type { TraceBus } from "./trace/events.js";

export interface XenContext {
  readonly trace: TraceBus;
  readonly scheduler: Scheduler;
  readonly machine: MachineMemory;
  readonly irq: InterruptController;
  /** Virtual time in ns since boot. */
  readonly now: number;
  /** The next trace sequence number. */
  nextTraceSeq(): number;
  /** `{ t: now, seq: nextTraceSeq() }`. */
  traceHeader(): { t: number; seq: number };
  /** `rcu_lock_domain_by_id`: dying domains included; DOMID_SELF is not accepted. */
  domainById(domid: number): Domain | undefined;
  /** `rcu_lock_domain_by_any_id`: DOMID_SELF means the caller. */
  lookupAnyId(caller: Domain, domid: number): Domain | undefined;
  /** `domain_shutdown()`. */
  shutdownDomain(domid: number, reason: number): void;
  /** `domain_crash()`. */
  crashDomain(domid: number, cause: unknown): void;
  /** Removes a dying domain once nobody maps its frames any more. */
  maybeFinaliseDomain(d: Domain): void;
}
