/**
 * The simulated Xen behind a `Hypervisor`, internal to the package: the domain table and the
 * domains' lifecycle, machine memory, the scheduler and virtual clock, the interrupt controller
 * and the trace bus. It is the `XenContext` every subsystem gets (`evtchn/`, `gnttab/`, the
 * hypercall handlers); the public `Hypervisor` wraps one and exposes only what a test or a
 * toolstack may call. Event delivery is `evtchn/delivery.ts`, vCPU time `domain/vcpu-time.ts`,
 * PIRQ access `irq/pirq-access.ts`; the hypercalls dispatch from `hypercalls.ts`.
 */
import { DOMID_FIRST_RESERVED, DOMID_SELF, VIRQ } from "./abi/xen.js";
import { SHUTDOWN } from "./abi/sched.js";
import {
  type Domain,
  Domain as DomainImpl,
  type DomainOptions,
  resolveDomainOptions,
} from "./domain/domain.js";
import { updateVcpuTime, writeWallclock } from "./domain/vcpu-time.js";
import { deliver, kick, sendGlobalVirq, sendGuestPirq } from "./evtchn/delivery.js";
import { ECS } from "./evtchn/port-table.js";
import { teardownFifo } from "./evtchn/fifo-ops.js";
import { closePort } from "./evtchn/ops.js";
import { GrantTable } from "./gnttab/grant-table.js";
import { type Guest, guestDomain, newGuest } from "./guest.js";
import { InterruptController } from "./irq/interrupt-controller.js";
import { MachineMemory } from "./memory/frame.js";
import { type ChaosOptions, Scheduler } from "./sched/scheduler.js";
import { TraceBus } from "./trace/events.js";
import type { XenContext } from "./xen-context.js";

export interface HypervisorOptions {
  /** "auto" (default): the scheduler pumps itself. "manual": drive it with step()/advance(). */
  mode?: "auto" | "manual";
  /** Seeded chaos: delays and reorders deliveries within Xen's rules. */
  chaos?: ChaosOptions;
  /** Wall-clock time at boot, seconds since the Unix epoch. Default 2026-01-01T00:00:00Z. */
  wallclockSec?: number;
}

const DEFAULT_WALLCLOCK = 1_767_225_600;

export class Xen implements XenContext {
  readonly trace = new TraceBus();
  readonly scheduler: Scheduler;
  readonly machine = new MachineMemory();
  readonly irq: InterruptController;
  readonly #domains = new Map<number, Domain>();
  readonly #guests = new Map<number, Guest>();
  #domidRover = 0;
  #traceSeq = 0;
  readonly #wallclockSec: number;

  constructor(opts: HypervisorOptions = {}) {
    this.scheduler = new Scheduler({
      mode: opts.mode ?? "auto",
      ...(opts.chaos ? { chaos: opts.chaos } : {}),
    });
    this.irq = new InterruptController((d, pirq) => sendGuestPirq(this, d, pirq));
    this.#wallclockSec = opts.wallclockSec ?? DEFAULT_WALLCLOCK;
  }

  // ---- time and driving --------------------------------------------------------------------

  /** Virtual time in ns since boot. */
  get now(): number {
    return this.scheduler.now;
  }
  /** The next trace header. */
  traceHeader(): { t: number; seq: number } {
    return { t: this.scheduler.now, seq: this.#traceSeq++ };
  }

  /**
   * The next trace sequence number (events are built as one literal, without a spread). Every
   * traceable point takes one whether or not its event is enabled, so a position (a finding's
   * `trace seq N`) means the same point in a run with any set of listeners: the sanitizer alone,
   * or a trace recorder too.
   */
  nextTraceSeq(): number {
    return this.#traceSeq++;
  }

  // ---- domains -----------------------------------------------------------------------------

  /**
   * Creates a domain (XEN_DOMCTL_createdomain + max_mem + max_vcpus). The first domain is dom0,
   * the control domain. Later domids come from a rover that skips ids in use, as Xen's does.
   * @throws RangeError on bad options or when no domid is free.
   */
  createDomain(opts: DomainOptions = {}): Domain {
    const domid =
      this.#domains.size === 0 && !this.#domains.has(0) && this.#domidRover === 0
        ? 0
        : this.#allocDomid();
    const d = new DomainImpl(domid, resolveDomainOptions(domid, opts), this.machine);
    d.gnttab = new GrantTable(d, this);
    this.#domains.set(domid, d);
    for (const v of d.vcpus) v.deliver = () => deliver(this, v);
    writeWallclock(d, this.#wallclockSec);
    for (const v of d.vcpus) updateVcpuTime(v, this.scheduler.now);
    this.#traceDomain(d, "created");
    return d;
  }

  #allocDomid(): number {
    for (let i = 0; i < DOMID_FIRST_RESERVED; i++) {
      this.#domidRover = this.#domidRover + 1 >= DOMID_FIRST_RESERVED ? 1 : this.#domidRover + 1;
      if (!this.#domains.has(this.#domidRover)) return this.#domidRover;
    }
    throw new RangeError("no free domid");
  }

  /** Every domain Xen still knows (running or dying). */
  get domains(): readonly Domain[] {
    return [...this.#domains.values()];
  }

  /** The domain with this id, dying ones included (`rcu_lock_domain_by_id`); DOMID_SELF is not accepted. */
  domainById(domid: number): Domain | undefined {
    return this.#domains.get(domid);
  }

  /** `rcu_lock_domain_by_any_id`: DOMID_SELF means the caller. */
  lookupAnyId(caller: Domain, domid: number): Domain | undefined {
    return domid === DOMID_SELF ? caller : this.#domains.get(domid);
  }

  /**
   * The guest-side view of a domain: hypercalls per vCPU, memory, upcall registration.
   * @throws RangeError for an unknown domain, or one that is dying (it runs no more code).
   */
  guest(domid: number): Guest {
    const d = this.#domains.get(domid);
    if (d === undefined) throw new RangeError(`no domain ${domid}`);
    if (d.isDying) throw new RangeError(`d${domid} is dying: it runs no more code`);
    let g = this.#guests.get(domid);
    if (g === undefined || guestDomain(g) !== d) {
      g = newGuest(this, d);
      this.#guests.set(domid, g);
    }
    return g;
  }

  /** Pauses a domain (reference counted): no upcalls are delivered while paused. */
  pauseDomain(domid: number): void {
    const d = this.mustGet(domid);
    d.pauseCount++;
    d.controllerPauseCount++;
    if (d.pauseCount === 1) this.#traceDomain(d, "paused");
  }

  /** Drops one pause reference; upcalls held back are delivered. */
  unpauseDomain(domid: number): void {
    const d = this.mustGet(domid);
    if (d.controllerPauseCount === 0)
      throw new RangeError(`d${domid} is not paused by the toolstack`);
    d.controllerPauseCount--;
    d.pauseCount--;
    if (d.pauseCount === 0) {
      this.#traceDomain(d, "unpaused");
      for (const v of d.vcpus) if (v.upcallPending) kick(this, v);
    }
  }

  /**
   * SCHEDOP_shutdown / domain_shutdown(): the domain stops running and dom0 gets VIRQ_DOM_EXC.
   * Its resources stay until destroyDomain().
   */
  shutdownDomain(domid: number, reason: number): void {
    const d = this.mustGet(domid);
    if (d.shutdownCode !== undefined) return;
    d.shutdownCode = reason;
    d.pauseCount++;
    this.#traceDomain(d, "shutdown", reason);
    sendGlobalVirq(this, this.#domains.get(0), VIRQ.VIRQ_DOM_EXC);
  }

  /** `domain_crash()`: shutdown with SHUTDOWN_crash, keeping the cause. */
  crashDomain(domid: number, cause: unknown): void {
    const d = this.mustGet(domid);
    if (d.crashCause === undefined) d.crashCause = cause;
    this.shutdownDomain(domid, SHUTDOWN.SHUTDOWN_crash);
  }

  /**
   * Destroys a domain (`domain_kill`): its ports are closed (interdomain peers go UNBOUND), its
   * own grant mappings are released and its views die; VIRQ_DOM_EXC is raised in dom0. Frames of
   * the domain that others still map stay valid until they unmap; the domain stays "dying" until
   * then, and its domid is not reused.
   */
  destroyDomain(domid: number): void {
    const d = this.mustGet(domid);
    if (d.isDying) return;
    d.state = "dying";
    this.#traceDomain(d, "dying");
    for (const v of d.vcpus) {
      v.singleshot?.cancel();
      v.singleshot = undefined;
      v.poll?.timer?.cancel();
      v.poll = undefined;
      d.pollers = 0;
      v.blockWaiters = [];
    }
    const t = d.evtchn;
    for (let port = 1; port < t.validEvtchns; port++) {
      if (t.state[port]! > ECS.RESERVED) closePort(this, d, port, false);
    }
    teardownFifo(d); // evtchn_destroy() -> evtchn_fifo_destroy(): Xen drops its page references
    d.gnttab.releaseMappings();
    d.physmap.teardown();
    this.#guests.delete(domid);
    sendGlobalVirq(this, this.#domains.get(0), VIRQ.VIRQ_DOM_EXC);
    this.maybeFinaliseDomain(d);
  }

  /** Removes a dying domain once nobody maps its frames any more. */
  maybeFinaliseDomain(d: Domain): void {
    if (d.state !== "dying" || d.gnttab.mappedByOthers > 0) return;
    d.state = "dead";
    this.#domains.delete(d.domid);
    this.#traceDomain(d, "destroyed");
  }

  #traceDomain(
    d: Domain,
    what: "created" | "paused" | "unpaused" | "dying" | "destroyed" | "shutdown",
    reason?: number,
  ): void {
    const header = this.traceHeader();
    if (!this.trace.enabled.domain) return;
    this.trace.emit("domain", {
      ...header,
      domid: d.domid,
      what,
      ...(reason !== undefined ? { reason } : {}),
    });
  }

  /** `send_global_virq()`: a global VIRQ to the hardware domain (dom0). */
  sendGlobalVirq(virq: number): void {
    sendGlobalVirq(this, this.#domains.get(0), virq);
  }

  /** The domain with this id. @throws RangeError for an unknown domain. */
  mustGet(domid: number): Domain {
    const d = this.#domains.get(domid);
    if (d === undefined) throw new RangeError(`no domain ${domid}`);
    return d;
  }
}
