/**
 * The simulated Xen: a domain table, machine memory, the scheduler and virtual clock, the
 * interrupt controller and the trace bus. Guests reach it only through `guest(domid)`: hypercalls,
 * their own physical memory and an upcall registration, as a real guest kernel does.
 */
import { XEN_ERRNO } from "./abi/errno.js";
import { DOMID_FIRST_RESERVED, DOMID_SELF, VIRQ, virqIsPerVcpu } from "./abi/xen.js";
import { SHUTDOWN } from "./abi/sched.js";
import { vcpu_time_info, VCPU_INFO_TIME, shared_info, XEN_PVCLOCK_TSC_STABLE_BIT } from "./abi/shared-info.js";
import { writeField } from "./abi/struct.js";
import { type Domain, Domain as DomainImpl, type DomainOptions, resolveDomainOptions } from "./domain/domain.js";
import type { Vcpu } from "./domain/vcpu.js";
import { ECS } from "./evtchn/port-table.js";
import { type FifoEvents, FIFO_RAISE_OUTCOME_MASK, FIFO_RAISE_OUTCOMES, FIFO_RAISE_POLL, FIFO_RAISE_UPCALL } from "./evtchn/fifo.js";
import { teardownFifo } from "./evtchn/fifo-ops.js";
import { closePort } from "./evtchn/ops.js";
import { clearPending, isMasked, isPending, setPending2l, unmask2l } from "./evtchn/two-level.js";
import { GrantTable } from "./gnttab/grant-table.js";
import { Guest } from "./guest.js";
import { InterruptController } from "./irq/interrupt-controller.js";
import { MachineMemory } from "./memory/frame.js";
import { type ChaosOptions, Scheduler } from "./sched/scheduler.js";
import { TraceBus } from "./trace/events.js";

export interface HypervisorOptions {
  /** "auto" (default): the scheduler pumps itself. "manual": drive it with step()/advance(). */
  mode?: "auto" | "manual";
  /** Seeded chaos: delays and reorders deliveries within Xen's rules. */
  chaos?: ChaosOptions;
  /** Wall-clock time at boot, seconds since the Unix epoch. Default 2026-01-01T00:00:00Z. */
  wallclockSec?: number;
}

const DEFAULT_WALLCLOCK = 1_767_225_600;

export class Hypervisor {
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
    this.scheduler = new Scheduler({ mode: opts.mode ?? "auto", ...(opts.chaos ? { chaos: opts.chaos } : {}) });
    this.irq = new InterruptController((d, pirq) => this.sendGuestPirq(d, pirq));
    this.#wallclockSec = opts.wallclockSec ?? DEFAULT_WALLCLOCK;
  }

  // ---- time and driving --------------------------------------------------------------------

  /** Virtual time in ns since boot. */
  get now(): number {
    return this.scheduler.now;
  }
  /** Runs one queued task. */
  step(): boolean {
    return this.scheduler.step();
  }
  /** Runs until no delivery is pending. */
  runUntilIdle(): number {
    return this.scheduler.runUntilIdle();
  }
  /** Advances virtual time by `ns`, firing timers on the way. */
  advance(ns: number): number {
    return this.scheduler.advance(ns);
  }
  /** Drives the scheduler and lets guest promise continuations run until quiescent. */
  settle(): Promise<void> {
    return this.scheduler.settle();
  }

  /** @internal Next trace header. */
  traceHeader(): { t: number; seq: number } {
    return { t: this.scheduler.now, seq: this.#traceSeq++ };
  }

  /** @internal The next trace sequence number (events are built as one literal, without a spread). */
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
    const domid = this.#domains.size === 0 && !this.#domains.has(0) && this.#domidRover === 0 ? 0 : this.#allocDomid();
    const d = new DomainImpl(domid, resolveDomainOptions(domid, opts), this.machine);
    d.gnttab = new GrantTable(d, this);
    this.#domains.set(domid, d);
    for (const v of d.vcpus) v.deliver = () => this.#deliver(v);
    this.#writeWallclock(d);
    for (const v of d.vcpus) this.updateVcpuTime(v);
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
    if (g === undefined || g.domain !== d) {
      g = new Guest(this, d);
      this.#guests.set(domid, g);
    }
    return g;
  }

  /** Pauses a domain (reference counted): no upcalls are delivered while paused. */
  pauseDomain(domid: number): void {
    const d = this.#mustGet(domid);
    d.pauseCount++;
    d.controllerPauseCount++;
    if (d.pauseCount === 1) this.#traceDomain(d, "paused");
  }

  /** Drops one pause reference; upcalls held back are delivered. */
  unpauseDomain(domid: number): void {
    const d = this.#mustGet(domid);
    if (d.controllerPauseCount === 0) throw new RangeError(`d${domid} is not paused by the toolstack`);
    d.controllerPauseCount--;
    d.pauseCount--;
    if (d.pauseCount === 0) {
      this.#traceDomain(d, "unpaused");
      for (const v of d.vcpus) if (v.upcallPending) this.kick(v);
    }
  }

  /**
   * SCHEDOP_shutdown / domain_shutdown(): the domain stops running and dom0 gets VIRQ_DOM_EXC.
   * Its resources stay until destroyDomain().
   */
  shutdownDomain(domid: number, reason: number): void {
    const d = this.#mustGet(domid);
    if (d.shutdownCode !== undefined) return;
    d.shutdownCode = reason;
    d.pauseCount++;
    this.#traceDomain(d, "shutdown", reason);
    this.sendGlobalVirq(VIRQ.VIRQ_DOM_EXC);
  }

  /** `domain_crash()`: shutdown with SHUTDOWN_crash, keeping the cause. */
  crashDomain(domid: number, cause: unknown): void {
    const d = this.#mustGet(domid);
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
    const d = this.#mustGet(domid);
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
    this.sendGlobalVirq(VIRQ.VIRQ_DOM_EXC);
    this.maybeFinaliseDomain(d);
  }

  /** @internal Removes a dying domain once nobody maps its frames any more. */
  maybeFinaliseDomain(d: Domain): void {
    if (d.state !== "dying" || d.gnttab.mappedByOthers > 0) return;
    d.state = "dead";
    this.#domains.delete(d.domid);
    this.#traceDomain(d, "destroyed");
  }

  #mustGet(domid: number): Domain {
    const d = this.#domains.get(domid);
    if (d === undefined) throw new RangeError(`no domain ${domid}`);
    return d;
  }

  #traceDomain(d: Domain, what: "created" | "paused" | "unpaused" | "dying" | "destroyed" | "shutdown", reason?: number): void {
    if (!this.trace.enabled.domain) return;
    this.trace.emit("domain", { ...this.traceHeader(), domid: d.domid, what, ...(reason !== undefined ? { reason } : {}) });
  }

  // ---- PIRQ access (XEN_DOMCTL_irq_permission) -----------------------------------------------

  /** `irq_access_permitted()`: the control domain may bind every PIRQ; others need a grant. */
  irqAccessPermitted(d: Domain, pirq: number): boolean {
    return d.isPrivileged || d.pirqAccess.has(pirq);
  }

  /**
   * XEN_DOMCTL_irq_permission issued by `caller`: 0, -EPERM (not privileged, or the caller has no
   * access to the PIRQ itself), -ESRCH, -EINVAL (PIRQ beyond the *caller's* nr_pirqs, as Xen checks).
   */
  irqPermission(caller: Domain, domid: number, pirq: number, allow: boolean): number {
    if (!caller.isPrivileged) return -XEN_ERRNO.EPERM;
    const d = this.#domains.get(domid);
    if (d === undefined || d.isDying) return -XEN_ERRNO.ESRCH;
    if (!Number.isInteger(pirq) || pirq < 0 || pirq >= caller.nrPirqs) return -XEN_ERRNO.EINVAL;
    if (!this.irqAccessPermitted(caller, pirq)) return -XEN_ERRNO.EPERM;
    if (allow) d.pirqAccess.add(pirq);
    else d.pirqAccess.delete(pirq);
    return 0;
  }

  // ---- event delivery ------------------------------------------------------------------------

  /**
   * `evtchn_port_set_pending()` on the port's notify vCPU, then the pollers. One field check picks
   * the ABI: the 2-level path (`evtchn_2l_set_pending`) unless the domain switched to FIFO.
   */
  setPending(d: Domain, port: number): void {
    const fifo = d.fifo;
    if (fifo !== undefined) {
      this.#setPendingFifo(d, fifo, port);
      return;
    }
    const v = d.vcpus[d.evtchn.notifyVcpu[port]!]!;
    const outcome = setPending2l(v, port);
    if (this.trace.enabled.raise) {
      this.trace.emit("raise", { t: this.scheduler.now, seq: this.#traceSeq++, domid: d.domid, port, vcpu: v.id, outcome });
    }
    if (outcome === "coalesced") return;
    if (outcome === "upcall") this.kick(v);
    this.#checkPollers(d, port);
  }

  /** `evtchn_fifo_set_pending()` on the notify vCPU: link, then kick on upcall_pending 0 → 1, then the pollers. */
  #setPendingFifo(d: Domain, fifo: FifoEvents, port: number): void {
    const v = d.vcpus[d.evtchn.notifyVcpu[port]!]!;
    const r = fifo.setPending(v, port);
    const code = r & FIFO_RAISE_OUTCOME_MASK;
    if (this.trace.enabled.raise) {
      const outcome = FIFO_RAISE_OUTCOMES[code]!;
      this.trace.emit("raise", { t: this.scheduler.now, seq: this.#traceSeq++, domid: d.domid, port, vcpu: v.id, outcome });
    }
    if (code === FIFO_RAISE_UPCALL) this.kick(v);
    if ((r & FIFO_RAISE_POLL) !== 0) this.#checkPollers(d, port);
  }

  /** `evtchn_port_clear_pending()` (on free): the 2-level pending bit, or FIFO's PENDING. */
  clearPending(d: Domain, port: number): void {
    const fifo = d.fifo;
    if (fifo !== undefined) fifo.clearPending(port);
    else clearPending(d.sharedInfo.bytes, port);
  }

  /**
   * The ABI's unmask on the port's notify vCPU (the caller checked the port is usable). 2-level:
   * `evtchn_2l_unmask`. FIFO: clear MASKED, and if PENDING raise it again so it gets linked.
   */
  unmaskPort(d: Domain, port: number): void {
    const fifo = d.fifo;
    if (fifo !== undefined) {
      if (fifo.unmask(port)) this.#setPendingFifo(d, fifo, port);
      return;
    }
    const v = d.vcpus[d.evtchn.notifyVcpu[port]!]!;
    if (unmask2l(v, port) === "upcall") this.kick(v);
  }

  /**
   * `evtchn_bind_vcpu` effect: moves future notifications. Like Xen's 2-level ABI, a port already
   * pending stays flagged on the old vCPU's selector; under FIFO a port already linked stays on
   * its old queue and the next link after the guest consumed it uses the new vCPU's queue.
   */
  moveNotifyVcpu(d: Domain, port: number, vcpu: number): void {
    d.evtchn.notifyVcpu[port] = vcpu;
  }

  /** Whether `port` of `d` is pending: its shared_info bit, or FIFO's PENDING (no page: false). */
  portIsPending(d: Domain, port: number): boolean {
    const fifo = d.fifo;
    return fifo !== undefined ? fifo.isPending(port) : isPending(d.sharedInfo.bytes, port);
  }

  /** Whether `port` of `d` is masked: its shared_info bit, or FIFO's MASKED (no page: masked). */
  portIsMasked(d: Domain, port: number): boolean {
    const fifo = d.fifo;
    return fifo !== undefined ? fifo.isMasked(port) : isMasked(d.sharedInfo.bytes, port);
  }

  /** `send_guest_vcpu_virq()`: a per-vCPU VIRQ to one vCPU. Dropped if unbound. */
  sendGuestVcpuVirq(v: Vcpu, virq: number): void {
    const port = v.virqToEvtchn[virq]!;
    if (port === 0 || v.domain.isDying) return;
    this.setPending(v.domain, port);
  }

  /** `send_guest_global_virq()`: a global VIRQ bound on vCPU 0, to its notify vCPU. */
  sendGuestGlobalVirq(d: Domain, virq: number): void {
    const v0 = d.vcpus[0];
    if (v0 === undefined || d.isDying) return;
    const port = v0.virqToEvtchn[virq]!;
    if (port === 0) return;
    this.setPending(d, port);
  }

  /** `send_global_virq()`: to the hardware domain (dom0) by default. */
  sendGlobalVirq(virq: number): void {
    const dom0 = this.#domains.get(0);
    if (dom0 !== undefined) this.sendGuestGlobalVirq(dom0, virq);
  }

  /** Sends VIRQ_DEBUG to one vCPU of a domain (the 'debug key' request). */
  sendDebugVirq(domid: number, vcpu = 0): void {
    const v = this.#mustGet(domid).vcpu(vcpu);
    if (v === undefined) throw new RangeError(`d${domid} has no vcpu ${vcpu}`);
    this.sendGuestVcpuVirq(v, VIRQ.VIRQ_DEBUG);
  }

  /** Sends a VIRQ the way Xen would for its scope (per-vCPU to `vcpu`, global via vCPU 0). */
  sendVirq(domid: number, virq: number, vcpu = 0): void {
    const d = this.#mustGet(domid);
    if (virqIsPerVcpu(virq)) {
      const v = d.vcpu(vcpu);
      if (v === undefined) throw new RangeError(`d${domid} has no vcpu ${vcpu}`);
      this.sendGuestVcpuVirq(v, virq);
    } else this.sendGuestGlobalVirq(d, virq);
  }

  /** `send_guest_pirq()`. */
  sendGuestPirq(d: Domain, pirq: number): void {
    const port = d.pirqToEvtchn.get(pirq);
    if (port === undefined || d.isDying) return;
    this.setPending(d, port);
  }

  /** `evtchn_check_pollers()`: wake vCPUs polling this port (or polling several ports). */
  #checkPollers(d: Domain, port: number): void {
    if (d.pollers === 0) return; // Xen's bitmap_empty(poll_mask) early-out: the common case
    for (const v of d.vcpus) {
      const p = v.poll;
      if (p === undefined) continue;
      if (p.ports.length !== 1 || p.ports[0] === port) this.wakePoller(v, 0);
    }
  }

  /** @internal Ends a SCHEDOP_poll wait with `rc`. */
  wakePoller(v: Vcpu, rc: number): void {
    const p = v.poll;
    if (p === undefined) return;
    v.poll = undefined;
    v.domain.pollers--;
    p.timer?.cancel();
    this.scheduler.defer(() => p.resolve(rc));
  }

  /**
   * `vcpu_kick()`: queue an upcall delivery for the vCPU (coalesced while one is queued). Like
   * Xen's kick it also unblocks a vCPU sleeping in SCHEDOP_poll, whatever port it polls.
   */
  kick(v: Vcpu): void {
    if (v.poll !== undefined) this.wakePoller(v, 0);
    if (v.kickQueued) return;
    v.kickQueued = true;
    this.scheduler.defer(v.deliver);
  }

  /**
   * Entering the guest: if events need delivery (upcall_pending and not masked) and a handler is
   * registered, mask upcalls, run the handler, then unmask. Events raised meanwhile kick again.
   * SCHEDOP_block waiters wake once events are pending.
   */
  #deliver(v: Vcpu): void {
    v.kickQueued = false;
    const d = v.domain;
    if (d.isDying || d.isPaused) return;
    if (v.upcall !== undefined && !v.inUpcall && v.eventsNeedDelivery) {
      if (this.trace.enabled.upcall) {
        this.trace.emit("upcall", { t: this.scheduler.now, seq: this.#traceSeq++, domid: d.domid, vcpu: v.id });
      }
      v.upcallMask = 1;
      v.inUpcall = true;
      v.upcalls++;
      try {
        v.upcall(v.id);
      } catch (err) {
        v.inUpcall = false;
        this.crashDomain(d.domid, err);
        return;
      }
      v.inUpcall = false;
      v.upcallMask = 0;
      this.updateVcpuTime(v);
      // An upcall_pending 0→1 during the handler already queued the next delivery (kick).
      // A handler that never cleared upcall_pending is not re-entered until something else
      // kicks it; Xen would re-inject it forever, which in one thread is a hang.
    }
    if (v.blockWaiters.length > 0 && v.upcallPending) {
      const ws = v.blockWaiters;
      v.blockWaiters = [];
      for (const w of ws) w();
    }
  }

  /** @internal Called on every hypercall exit: an unmasked vCPU with work gets its upcall. */
  checkUpcall(v: Vcpu): void {
    if (!v.kickQueued && !v.inUpcall && v.eventsNeedDelivery) this.kick(v);
  }

  // ---- time ----------------------------------------------------------------------------------

  /**
   * Writes the vCPU's `vcpu_time_info` with Xen's version protocol (odd while updating). The
   * virtual TSC counts nanoseconds: tsc_to_system_mul = 2^31 with tsc_shift = 1 is the identity.
   */
  updateVcpuTime(v: Vcpu): void {
    const now = this.scheduler.now;
    if (v.timeUpdatedAt === now) return;
    v.timeUpdatedAt = now;
    const dv = v.domain.sharedInfo.dv;
    const base = v.vcpuInfoOffset + VCPU_INFO_TIME;
    const version = dv.getUint32(base, true);
    dv.setUint32(base, (version + 1) >>> 0, true);
    writeField(dv, base, vcpu_time_info.tsc_timestamp, now);
    writeField(dv, base, vcpu_time_info.system_time, now);
    writeField(dv, base, vcpu_time_info.tsc_to_system_mul, 0x8000_0000);
    dv.setInt8(base + vcpu_time_info.tsc_shift[0], 1);
    writeField(dv, base, vcpu_time_info.flags, XEN_PVCLOCK_TSC_STABLE_BIT);
    dv.setUint32(base, (version + 2) >>> 0, true);
  }

  /** Writes the boot wall-clock into shared_info (wc_version even when done). */
  #writeWallclock(d: Domain): void {
    const dv = d.sharedInfo.dv;
    const v = dv.getUint32(shared_info.wc_version[0], true);
    dv.setUint32(shared_info.wc_version[0], v + 1, true);
    writeField(dv, 0, shared_info.wc_sec, this.#wallclockSec % 2 ** 32);
    writeField(dv, 0, shared_info.wc_nsec, 0);
    writeField(dv, 0, shared_info.wc_sec_hi, Math.floor(this.#wallclockSec / 2 ** 32));
    writeField(dv, 0, shared_info["arch.max_pfn"], d.physmap.nrPages);
    dv.setUint32(shared_info.wc_version[0], v + 2, true);
  }

  /** Arms (or with `at` = 0, stops) a vCPU's single-shot timer at absolute virtual time `at` ns. */
  setSingleshotTimer(v: Vcpu, at: number): void {
    v.singleshot?.cancel();
    v.singleshot = undefined;
    if (at === 0) return;
    v.singleshot = this.scheduler.at(at, () => {
      v.singleshot = undefined;
      if (this.trace.enabled.timer) {
        this.trace.emit("timer", { t: this.scheduler.now, seq: this.#traceSeq++, domid: v.domain.domid, vcpu: v.id });
      }
      this.updateVcpuTime(v);
      this.sendGuestVcpuVirq(v, VIRQ.VIRQ_TIMER);
    });
  }
}
