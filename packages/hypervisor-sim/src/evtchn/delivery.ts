/**
 * Event delivery: how a port becomes pending on the right vCPU and how that vCPU gets its upcall
 * (`xen/common/event_channel.c`: `evtchn_port_set_pending`, `evtchn_check_pollers`,
 * `send_guest_vcpu_virq`, `send_guest_global_virq`, `send_guest_pirq`; `vcpu_kick`). One field
 * check picks the ABI per raise: the 2-level bitmaps of shared_info (`event_2l.c`) unless the
 * domain switched to FIFO (`event_fifo.c`). Upcalls run as scheduler tasks, never inside the
 * raise that caused them.
 */
import type { Domain } from "../domain/domain.js";
import type { Vcpu } from "../domain/vcpu.js";
import { updateVcpuTime } from "../domain/vcpu-time.js";
import type { RaiseTrace } from "../trace/events.js";
import type { XenContext } from "../xen-context.js";
import {
  type FifoEvents,
  FIFO_RAISE_OUTCOME_MASK,
  FIFO_RAISE_OUTCOMES,
  FIFO_RAISE_POLL,
  FIFO_RAISE_UPCALL,
} from "./fifo.js";
import {
  clearPending as clearPending2l,
  isMasked,
  isPending,
  setPending2l,
  unmask2l,
} from "./two-level.js";

/**
 * The "raise" trace event of a set_pending. Its sequence number is taken whether or not the event
 * is enabled, so a position does not depend on who listens.
 */
function traceRaise(
  xen: XenContext,
  d: Domain,
  port: number,
  v: Vcpu,
  outcome: RaiseTrace["outcome"],
): void {
  const seq = xen.nextTraceSeq();
  if (xen.trace.enabled.raise)
    xen.trace.emit("raise", {
      t: xen.scheduler.now,
      seq,
      domid: d.domid,
      port,
      vcpu: v.id,
      outcome,
    });
}

/**
 * `evtchn_port_set_pending()` on the port's notify vCPU, then the pollers. One field check picks
 * the ABI: the 2-level path (`evtchn_2l_set_pending`) unless the domain switched to FIFO.
 */
export function setPending(xen: XenContext, d: Domain, port: number): void {
  const fifo = d.fifo;
  if (fifo !== undefined) {
    setPendingFifo(xen, d, fifo, port);
    return;
  }
  const v = d.vcpus[d.evtchn.notifyVcpu[port]!]!;
  const outcome = setPending2l(v, port);
  traceRaise(xen, d, port, v, outcome);
  if (outcome === "coalesced") return;
  if (outcome === "upcall") kick(xen, v);
  checkPollers(xen, d, port);
}

/** `evtchn_fifo_set_pending()` on the notify vCPU: link, then kick on upcall_pending 0 → 1, then the pollers. */
function setPendingFifo(xen: XenContext, d: Domain, fifo: FifoEvents, port: number): void {
  const v = d.vcpus[d.evtchn.notifyVcpu[port]!]!;
  const r = fifo.setPending(v, port);
  const code = r & FIFO_RAISE_OUTCOME_MASK;
  traceRaise(xen, d, port, v, FIFO_RAISE_OUTCOMES[code]!);
  if (code === FIFO_RAISE_UPCALL) kick(xen, v);
  if ((r & FIFO_RAISE_POLL) !== 0) checkPollers(xen, d, port);
}

/** `evtchn_port_clear_pending()` (on free): the 2-level pending bit, or FIFO's PENDING. */
export function clearPending(d: Domain, port: number): void {
  const fifo = d.fifo;
  if (fifo !== undefined) fifo.clearPending(port);
  else clearPending2l(d.sharedInfo.bytes, port);
}

/**
 * The ABI's unmask on the port's notify vCPU (the caller checked the port is usable). 2-level:
 * `evtchn_2l_unmask`. FIFO: clear MASKED, and if PENDING raise it again so it gets linked.
 */
export function unmaskPort(xen: XenContext, d: Domain, port: number): void {
  const fifo = d.fifo;
  if (fifo !== undefined) {
    if (fifo.unmask(port)) setPendingFifo(xen, d, fifo, port);
    return;
  }
  const v = d.vcpus[d.evtchn.notifyVcpu[port]!]!;
  if (unmask2l(v, port) === "upcall") kick(xen, v);
}

/**
 * `evtchn_bind_vcpu` effect: moves future notifications. Like Xen's 2-level ABI, a port already
 * pending stays flagged on the old vCPU's selector; under FIFO a port already linked stays on
 * its old queue and the next link after the guest consumed it uses the new vCPU's queue.
 */
export function moveNotifyVcpu(d: Domain, port: number, vcpu: number): void {
  d.evtchn.notifyVcpu[port] = vcpu;
}

/** Whether `port` of `d` is pending: its shared_info bit, or FIFO's PENDING (no page: false). */
export function portIsPending(d: Domain, port: number): boolean {
  const fifo = d.fifo;
  return fifo !== undefined ? fifo.isPending(port) : isPending(d.sharedInfo.bytes, port);
}

/** Whether `port` of `d` is masked: its shared_info bit, or FIFO's MASKED (no page: masked). */
export function portIsMasked(d: Domain, port: number): boolean {
  const fifo = d.fifo;
  return fifo !== undefined ? fifo.isMasked(port) : isMasked(d.sharedInfo.bytes, port);
}

/** `send_guest_vcpu_virq()`: a per-vCPU VIRQ to one vCPU. Dropped if unbound. */
export function sendGuestVcpuVirq(xen: XenContext, v: Vcpu, virq: number): void {
  const port = v.virqToEvtchn[virq]!;
  if (port === 0 || v.domain.isDying) return;
  setPending(xen, v.domain, port);
}

/** `send_guest_global_virq()`: a global VIRQ bound on vCPU 0, to its notify vCPU. */
export function sendGuestGlobalVirq(xen: XenContext, d: Domain, virq: number): void {
  const v0 = d.vcpus[0];
  if (v0 === undefined || d.isDying) return;
  const port = v0.virqToEvtchn[virq]!;
  if (port === 0) return;
  setPending(xen, d, port);
}

/** `send_global_virq()`: to the hardware domain (dom0) by default. */
export function sendGlobalVirq(xen: XenContext, dom0: Domain | undefined, virq: number): void {
  if (dom0 !== undefined) sendGuestGlobalVirq(xen, dom0, virq);
}

/** `send_guest_pirq()`. */
export function sendGuestPirq(xen: XenContext, d: Domain, pirq: number): void {
  const port = d.pirqToEvtchn.get(pirq);
  if (port === undefined || d.isDying) return;
  setPending(xen, d, port);
}

/** `evtchn_check_pollers()`: wake vCPUs polling this port (or polling several ports). */
function checkPollers(xen: XenContext, d: Domain, port: number): void {
  if (d.pollers === 0) return; // Xen's bitmap_empty(poll_mask) early-out: the common case
  for (const v of d.vcpus) {
    const p = v.poll;
    if (p === undefined) continue;
    if (p.ports.length !== 1 || p.ports[0] === port) wakePoller(xen, v, 0);
  }
}

/** Ends a SCHEDOP_poll wait with `rc`. */
export function wakePoller(xen: XenContext, v: Vcpu, rc: number): void {
  const p = v.poll;
  if (p === undefined) return;
  v.poll = undefined;
  v.domain.pollers--;
  p.timer?.cancel();
  xen.scheduler.defer(() => p.resolve(rc));
}

/**
 * `vcpu_kick()`: queue an upcall delivery for the vCPU (coalesced while one is queued). Like
 * Xen's kick it also unblocks a vCPU sleeping in SCHEDOP_poll, whatever port it polls.
 */
export function kick(xen: XenContext, v: Vcpu): void {
  if (v.poll !== undefined) wakePoller(xen, v, 0);
  if (v.kickQueued) return;
  v.kickQueued = true;
  xen.scheduler.defer(v.deliver);
}

/**
 * Entering the guest: if events need delivery (upcall_pending and not masked) and a handler is
 * registered, mask upcalls, run the handler, then unmask. Events raised meanwhile kick again.
 * SCHEDOP_block waiters wake once events are pending. A handler that throws crashes its domain.
 */
export function deliver(xen: XenContext, v: Vcpu): void {
  v.kickQueued = false;
  const d = v.domain;
  if (d.isDying || d.isPaused) return;
  if (v.upcall !== undefined && !v.inUpcall && v.eventsNeedDelivery) {
    const seq = xen.nextTraceSeq();
    if (xen.trace.enabled.upcall) {
      xen.trace.emit("upcall", {
        t: xen.scheduler.now,
        seq,
        domid: d.domid,
        vcpu: v.id,
      });
    }
    v.upcallMask = 1;
    v.inUpcall = true;
    v.upcalls++;
    try {
      v.upcall(v.id);
    } catch (err) {
      v.inUpcall = false;
      xen.crashDomain(d.domid, err);
      return;
    }
    v.inUpcall = false;
    v.upcallMask = 0;
    updateVcpuTime(v, xen.scheduler.now);
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

/** Called on every hypercall exit: an unmasked vCPU with work gets its upcall. */
export function checkUpcall(xen: XenContext, v: Vcpu): void {
  if (!v.kickQueued && !v.inUpcall && v.eventsNeedDelivery) kick(xen, v);
}
