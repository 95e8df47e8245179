/**
 * EVTCHNOP_* (`xen/common/event_channel.c`, 4.17): every precondition in Xen's order, returning
 * 0 or -errno. OUT fields are written only on success (`do_event_channel_op`).
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { isU32 } from "../abi/struct.js";
import type * as A from "../abi/event-channel.js";
import { EVTCHNSTAT } from "../abi/event-channel.js";
import { DOMID_SELF, NR_VIRQS, virqIsPerVcpu } from "../abi/xen.js";
import type { Domain } from "../domain/domain.js";
import type { Vcpu } from "../domain/vcpu.js";
import type { XenContext } from "../xen-context.js";
import { clearPending, moveNotifyVcpu, setPending, unmaskPort } from "./delivery.js";
import { irqAccessPermitted } from "../irq/pirq-access.js";
import { xsmTarget } from "../xsm/dummy.js";
import { teardownFifo } from "./fifo-ops.js";
import { ECS } from "./port-table.js";

const { EINVAL, ESRCH, ENOENT, EEXIST, EPERM, EACCES, EBUSY, EAGAIN } = XEN_ERRNO;

/** EVTCHNOP_alloc_unbound. */
export function allocUnbound(hv: XenContext, v: Vcpu, a: A.evtchn_alloc_unbound): number {
  const ld = v.domain;
  const d = hv.lookupAnyId(ld, a.dom);
  if (d === undefined) return -ESRCH;
  const port = d.evtchn.getFreePort(d.isDying);
  if (port < 0) return port;
  const rc = xsmTarget(ld, d);
  if (rc !== 0) return rc;
  const remote = a.remote_dom === DOMID_SELF ? ld.domid : a.remote_dom;
  d.evtchn.bind(port, ECS.UNBOUND, 0);
  d.evtchn.remoteDom[port] = remote;
  a.port = port;
  return 0;
}

/**
 * EVTCHNOP_bind_interdomain. The new local port is set pending at once. Only the local port is
 * (re)initialised (`evtchn_port_init(ld, lchn)`: FIFO priority 7); the remote end, already bound
 * UNBOUND, keeps its notify vCPU and the priority its owner gave it with set_priority.
 */
export function bindInterdomain(hv: XenContext, v: Vcpu, a: A.evtchn_bind_interdomain): number {
  const ld = v.domain;
  const rd = hv.lookupAnyId(ld, a.remote_dom);
  if (rd === undefined) return -ESRCH;
  const lport = ld.evtchn.getFreePort(ld.isDying);
  if (lport < 0) return lport;
  const rport = a.remote_port;
  if (!isU32(rport) || !rd.evtchn.isValid(rport)) return -EINVAL;
  const rt = rd.evtchn;
  if (rt.state[rport] !== ECS.UNBOUND || rt.remoteDom[rport] !== ld.domid) return -EINVAL;
  // XSM HOOK: always allowed.
  const lt = ld.evtchn;
  lt.bind(lport, ECS.INTERDOMAIN, 0);
  lt.remoteDom[lport] = rd.domid;
  lt.remotePort[lport] = rport;
  // Not rt.bind(): that would reset the remote port's priority, which Xen leaves alone.
  rt.state[rport] = ECS.INTERDOMAIN;
  rt.remoteDom[rport] = ld.domid;
  rt.remotePort[rport] = lport;
  // Cover any send that happened while the remote end was unbound.
  setPending(hv, ld, lport);
  a.local_port = lport;
  return 0;
}

/** EVTCHNOP_bind_virq. */
export function bindVirq(_hv: XenContext, v: Vcpu, a: A.evtchn_bind_virq): number {
  const d = v.domain;
  const virq = a.virq;
  if (!isU32(virq) || virq >= NR_VIRQS) return -EINVAL;
  if (!virqIsPerVcpu(virq) && a.vcpu !== 0) return -EINVAL;
  const target = d.vcpu(a.vcpu);
  if (target === undefined) return -ENOENT;
  if (target.virqToEvtchn[virq] !== 0) return -EEXIST;
  const port = d.evtchn.getFreePort(d.isDying);
  if (port < 0) return port;
  d.evtchn.bind(port, ECS.VIRQ, target.id);
  d.evtchn.irq[port] = virq;
  target.virqToEvtchn[virq] = port;
  a.port = port;
  return 0;
}

/** EVTCHNOP_bind_ipi. */
export function bindIpi(_hv: XenContext, v: Vcpu, a: A.evtchn_bind_ipi): number {
  const d = v.domain;
  const target = d.vcpu(a.vcpu);
  if (target === undefined) return -ENOENT;
  const port = d.evtchn.getFreePort(d.isDying);
  if (port < 0) return port;
  d.evtchn.bind(port, ECS.IPI, target.id);
  a.port = port;
  return 0;
}

/** EVTCHNOP_bind_pirq. */
export function bindPirq(hv: XenContext, v: Vcpu, a: A.evtchn_bind_pirq): number {
  const d = v.domain;
  const pirq = a.pirq;
  if (!isU32(pirq) || pirq >= d.nrPirqs) return -EINVAL;
  if (!irqAccessPermitted(d, pirq)) return -EPERM;
  if (d.pirqToEvtchn.has(pirq)) return -EEXIST;
  const port = d.evtchn.getFreePort(d.isDying);
  if (port < 0) return port;
  const rc = hv.irq.guestBind(d, pirq, (a.flags & 1) !== 0);
  if (rc !== 0) return rc;
  d.evtchn.bind(port, ECS.PIRQ, 0);
  d.evtchn.irq[port] = pirq;
  d.pirqToEvtchn.set(pirq, port);
  a.port = port;
  return 0;
}

/**
 * `evtchn_close()` on `d`: the port becomes FREE; an INTERDOMAIN peer goes back to UNBOUND
 * accepting `d`. `guest` is false for Xen's own teardown, which may close Xen-consumer ports.
 */
export function closePort(hv: XenContext, d: Domain, port: number, guest: boolean): number {
  const t = d.evtchn;
  if (!isU32(port) || !t.isValid(port)) return -EINVAL;
  if (guest && t.xenConsumer.has(port)) return -EINVAL;
  const state = t.state[port]!;
  switch (state) {
    case ECS.FREE:
    case ECS.RESERVED:
      return -EINVAL;
    case ECS.UNBOUND:
      break;
    case ECS.PIRQ: {
      const pirq = t.irq[port]!;
      hv.irq.guestUnbind(d, pirq);
      d.pirqToEvtchn.delete(pirq);
      break;
    }
    case ECS.VIRQ: {
      const virq = t.irq[port]!;
      const vcpu = d.vcpu(t.notifyVcpu[port]!);
      // A global VIRQ is recorded on vCPU 0 even after bind_vcpu moved its notifications.
      const owner = virqIsPerVcpu(virq) ? vcpu : d.vcpus[0];
      if (owner && owner.virqToEvtchn[virq] === port) owner.virqToEvtchn[virq] = 0;
      break;
    }
    case ECS.IPI:
      break;
    case ECS.INTERDOMAIN: {
      const rd = hv.domainById(t.remoteDom[port]!);
      const rport = t.remotePort[port]!;
      if (
        rd !== undefined &&
        rd.evtchn.state[rport] === ECS.INTERDOMAIN &&
        rd.evtchn.remotePort[rport] === port &&
        rd.evtchn.remoteDom[rport] === d.domid
      ) {
        rd.evtchn.state[rport] = ECS.UNBOUND;
        rd.evtchn.remoteDom[rport] = d.domid;
        rd.evtchn.remotePort[rport] = 0;
      }
      break;
    }
  }
  clearPending(d, port);
  t.free(port);
  return 0;
}

/** EVTCHNOP_close. */
export function close(hv: XenContext, v: Vcpu, a: A.evtchn_close): number {
  return closePort(hv, v.domain, a.port, true);
}

/** EVTCHNOP_send. Sending on an UNBOUND port returns 0 and drops the event. */
export function send(hv: XenContext, v: Vcpu, a: A.evtchn_send): number {
  const ld = v.domain;
  const port = a.port;
  const t = ld.evtchn;
  if (!isU32(port) || !t.isValid(port)) return -EINVAL;
  if (t.xenConsumer.has(port)) return -EINVAL;
  switch (t.state[port]) {
    case ECS.INTERDOMAIN: {
      const rd = hv.domainById(t.remoteDom[port]!);
      if (rd === undefined) return 0;
      const rport = t.remotePort[port]!;
      const consumer = rd.evtchn.xenConsumer.get(rport);
      if (consumer !== undefined) hv.scheduler.defer(() => consumer(rport));
      else setPending(hv, rd, rport);
      return 0;
    }
    case ECS.IPI:
      setPending(hv, ld, port);
      return 0;
    case ECS.UNBOUND:
      return 0;
    default:
      return -EINVAL;
  }
}

/** EVTCHNOP_status. */
export function status(hv: XenContext, v: Vcpu, a: A.evtchn_status): number {
  const d = hv.lookupAnyId(v.domain, a.dom);
  if (d === undefined) return -ESRCH;
  const t = d.evtchn;
  const port = a.port;
  if (!isU32(port) || !t.isValid(port)) return -EINVAL;
  if (t.xenConsumer.has(port)) return -EACCES;
  const rc = xsmTarget(v.domain, d);
  if (rc !== 0) return rc;
  const u: A.evtchn_status_u = {};
  let st: number;
  switch (t.state[port]) {
    case ECS.UNBOUND:
      st = EVTCHNSTAT.EVTCHNSTAT_unbound;
      u.unbound = { dom: t.remoteDom[port]! };
      break;
    case ECS.INTERDOMAIN:
      st = EVTCHNSTAT.EVTCHNSTAT_interdomain;
      u.interdomain = { dom: t.remoteDom[port]!, port: t.remotePort[port]! };
      break;
    case ECS.PIRQ:
      st = EVTCHNSTAT.EVTCHNSTAT_pirq;
      u.pirq = t.irq[port]!;
      break;
    case ECS.VIRQ:
      st = EVTCHNSTAT.EVTCHNSTAT_virq;
      u.virq = t.irq[port]!;
      break;
    case ECS.IPI:
      st = EVTCHNSTAT.EVTCHNSTAT_ipi;
      break;
    default:
      st = EVTCHNSTAT.EVTCHNSTAT_closed;
  }
  a.status = st;
  a.vcpu = t.notifyVcpu[port]!;
  a.u = u;
  return 0;
}

/** EVTCHNOP_bind_vcpu. The vCPU check comes before the port check. */
export function bindVcpu(hv: XenContext, v: Vcpu, a: A.evtchn_bind_vcpu): number {
  const d = v.domain;
  const target = d.vcpu(a.vcpu);
  if (target === undefined) return -ENOENT;
  const t = d.evtchn;
  const port = a.port;
  if (!isU32(port) || !t.isValid(port)) return -EINVAL;
  if (t.xenConsumer.has(port)) return -EINVAL;
  switch (t.state[port]) {
    case ECS.VIRQ:
      if (virqIsPerVcpu(t.irq[port]!)) return -EINVAL;
      break;
    case ECS.UNBOUND:
    case ECS.INTERDOMAIN:
      break;
    case ECS.PIRQ:
      hv.irq.setAffinity(d, t.irq[port]!, target.id);
      break;
    default:
      return -EINVAL;
  }
  moveNotifyVcpu(d, port, target.id);
  return 0;
}

/** EVTCHNOP_unmask: -EINVAL for an invalid port, else 0; the ABI's unmask runs if usable. */
export function unmask(hv: XenContext, v: Vcpu, a: A.evtchn_unmask): number {
  const d = v.domain;
  const port = a.port;
  if (!isU32(port) || !d.evtchn.isValid(port)) return -EINVAL;
  if (d.evtchn.isUsable(port)) unmaskPort(hv, d, port);
  return 0;
}

/**
 * EVTCHNOP_reset / EVTCHNOP_reset_cont: closes every guest port; -EAGAIN if some stay bound,
 * otherwise a FIFO domain goes back to the 2-level ABI.
 */
export function reset(hv: XenContext, v: Vcpu, a: A.evtchn_reset, cont: boolean): number {
  const d = hv.lookupAnyId(v.domain, a.dom);
  if (d === undefined) return -ESRCH;
  const rc = xsmTarget(v.domain, d);
  if (rc !== 0) return rc;
  if (d !== v.domain && d.controllerPauseCount === 0) return -EINVAL;
  if (cont ? !d.resetInProgress : d.resetInProgress) return -EBUSY;
  d.resetInProgress = true;
  // Xen may preempt every 64 ports into reset_cont; one synchronous pass is indistinguishable
  // to the guest, which only sees the final result.
  const t = d.evtchn;
  for (let port = 1; port < t.validEvtchns; port++) {
    if (t.state[port]! > ECS.RESERVED && !t.xenConsumer.has(port)) closePort(hv, d, port, false);
  }
  d.resetInProgress = false;
  for (let port = 1; port < t.validEvtchns; port++) {
    if (t.state[port]! > ECS.RESERVED && !t.xenConsumer.has(port)) return -EAGAIN;
  }
  // Only a complete reset switches a FIFO domain back to the 2-level ABI.
  teardownFifo(d);
  return 0;
}
