/**
 * The public face of the simulated Xen: create, pause and destroy domains, hand out each guest's
 * view (`guest(domid)`: hypercalls, its own memory, upcall registration), drive virtual time,
 * send VIRQs, and watch the trace bus. The machine itself (`xen.ts`) stays inside the package; a
 * read-only view of its tables is `@pvkit/hypervisor-sim/inspect`.
 */
import { VIRQ, virqIsPerVcpu } from "./abi/xen.js";
import type { DomainInfo } from "./domain/domain-info.js";
import type { DomainOptions } from "./domain/domain.js";
import { sendGuestGlobalVirq, sendGuestVcpuVirq } from "./evtchn/delivery.js";
import type { Guest } from "./guest.js";
import type { PhysicalIrqs } from "./irq/interrupt-controller.js";
import type { MachineMemory } from "./memory/frame.js";
import type { Scheduler } from "./sched/scheduler.js";
import type { TraceBus } from "./trace/events.js";
import { type HypervisorOptions, Xen } from "./xen.js";

export type { HypervisorOptions } from "./xen.js";

/** The machine behind each Hypervisor, for the package's own modules (see `xenOf`). */
let machineOf: (hv: Hypervisor) => Xen;

/**
 * A simulated Xen 4.17 host (x86_64 ABI) with a virtual clock: the domain table and the domains'
 * lifecycle, machine memory, the scheduler, the interrupt controller and the trace bus.
 *
 * ```ts
 * const hv = new Hypervisor();
 * const dom0 = hv.createDomain();            // the first domain is the control domain
 * const domU = hv.createDomain({ vcpus: 2 });
 * hv.guest(domU.domid).hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, a);
 * hv.runUntilIdle();
 * ```
 */
export class Hypervisor {
  readonly #xen: Xen;

  static {
    machineOf = (hv) => hv.#xen;
  }

  /** @param opts scheduler mode, seeded chaos, boot wall-clock. */
  constructor(opts: HypervisorOptions = {}) {
    this.#xen = new Xen(opts);
  }

  /** The trace bus: typed events (hypercall, raise, upcall, domain, timer) with virtual timestamps. */
  get trace(): TraceBus {
    return this.#xen.trace;
  }
  /** The scheduler and virtual clock. */
  get scheduler(): Scheduler {
    return this.#xen.scheduler;
  }
  /** Machine memory (frames by MFN). */
  get machine(): MachineMemory {
    return this.#xen.machine;
  }
  /** The interrupt controller: `irq.raise(irq)` drives bound PIRQs. */
  get irq(): PhysicalIrqs {
    return this.#xen.irq;
  }

  // ---- time and driving --------------------------------------------------------------------

  /** Virtual time in ns since boot. */
  get now(): number {
    return this.#xen.scheduler.now;
  }
  /** Runs one queued task. */
  step(): boolean {
    return this.#xen.scheduler.step();
  }
  /** Runs until no delivery is pending. */
  runUntilIdle(): number {
    return this.#xen.scheduler.runUntilIdle();
  }
  /** Advances virtual time by `ns`, firing timers on the way. */
  advance(ns: number): number {
    return this.#xen.scheduler.advance(ns);
  }
  /** Drives the scheduler and lets guest promise continuations run until quiescent. */
  settle(): Promise<void> {
    return this.#xen.scheduler.settle();
  }

  // ---- domains -----------------------------------------------------------------------------

  /**
   * Creates a domain (XEN_DOMCTL_createdomain + max_mem + max_vcpus). The first domain is dom0,
   * the control domain. Later domids come from a rover that skips ids in use, as Xen's does.
   * @throws RangeError on bad options or when no domid is free.
   */
  createDomain(opts: DomainOptions = {}): DomainInfo {
    return this.#xen.createDomain(opts);
  }

  /** Every domain Xen still knows (running or dying). */
  get domains(): readonly DomainInfo[] {
    return this.#xen.domains;
  }

  /** The domain with this id, dying ones included (`rcu_lock_domain_by_id`); DOMID_SELF is not accepted. */
  domainById(domid: number): DomainInfo | undefined {
    return this.#xen.domainById(domid);
  }

  /**
   * The guest-side view of a domain: hypercalls per vCPU, memory, upcall registration.
   * @throws RangeError for an unknown domain, or one that is dying (it runs no more code).
   */
  guest(domid: number): Guest {
    return this.#xen.guest(domid);
  }

  /** Pauses a domain (reference counted): no upcalls are delivered while paused. @throws RangeError for an unknown domain. */
  pauseDomain(domid: number): void {
    this.#xen.pauseDomain(domid);
  }

  /** Drops one pause reference; upcalls held back are delivered. @throws RangeError when the toolstack has not paused it. */
  unpauseDomain(domid: number): void {
    this.#xen.unpauseDomain(domid);
  }

  /**
   * SCHEDOP_shutdown / domain_shutdown(): the domain stops running and dom0 gets VIRQ_DOM_EXC.
   * Its resources stay until destroyDomain(). @throws RangeError for an unknown domain.
   */
  shutdownDomain(domid: number, reason: number): void {
    this.#xen.shutdownDomain(domid, reason);
  }

  /** `domain_crash()`: shutdown with SHUTDOWN_crash, keeping the cause. @throws RangeError for an unknown domain. */
  crashDomain(domid: number, cause: unknown): void {
    this.#xen.crashDomain(domid, cause);
  }

  /**
   * Destroys a domain (`domain_kill`): its ports are closed (interdomain peers go UNBOUND), its
   * own grant mappings are released and its views die; VIRQ_DOM_EXC is raised in dom0. Frames of
   * the domain that others still map stay valid until they unmap; the domain stays "dying" until
   * then, and its domid is not reused. @throws RangeError for an unknown domain.
   */
  destroyDomain(domid: number): void {
    this.#xen.destroyDomain(domid);
  }

  // ---- VIRQs -------------------------------------------------------------------------------

  /** `send_global_virq()`: a global VIRQ to the hardware domain (dom0). */
  sendGlobalVirq(virq: number): void {
    this.#xen.sendGlobalVirq(virq);
  }

  /** Sends VIRQ_DEBUG to one vCPU of a domain (the 'debug key' request). @throws RangeError for an unknown domain or vCPU. */
  sendDebugVirq(domid: number, vcpu = 0): void {
    const v = this.#xen.mustGet(domid).vcpu(vcpu);
    if (v === undefined) throw new RangeError(`d${domid} has no vcpu ${vcpu}`);
    sendGuestVcpuVirq(this.#xen, v, VIRQ.VIRQ_DEBUG);
  }

  /**
   * Sends a VIRQ the way Xen would for its scope (per-vCPU to `vcpu`, global via vCPU 0).
   * @throws RangeError for an unknown domain or vCPU.
   */
  sendVirq(domid: number, virq: number, vcpu = 0): void {
    const d = this.#xen.mustGet(domid);
    if (virqIsPerVcpu(virq)) {
      const v = d.vcpu(vcpu);
      if (v === undefined) throw new RangeError(`d${domid} has no vcpu ${vcpu}`);
      sendGuestVcpuVirq(this.#xen, v, virq);
    } else sendGuestGlobalVirq(this.#xen, d, virq);
  }
}

/**
 * The machine behind `hv`: for the package's own modules (`inspect/`, the grant-map fault hook,
 * the stall report) and its white-box tests. Not exported from the package's entry points.
 */
export function xenOf(hv: Hypervisor): Xen {
  return machineOf(hv);
}
