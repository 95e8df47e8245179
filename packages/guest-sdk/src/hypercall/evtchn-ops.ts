/**
 * Typed wrappers over HYPERVISOR_event_channel_op (`xen/include/public/event_channel.h`).
 *
 * Each wrapper builds the C argument struct, issues the raw hypercall on the given vCPU's
 * hypercall surface and returns the OUT field; a negative result throws `XenError` with Xen's
 * errno and the EVTCHNOP name (checks and their order: `xen/common/event_channel.c`). Nothing
 * is retried and nothing is cached: these are the `HYPERVISOR_event_channel_op` calls of a
 * guest kernel.
 */
import type { Hypercalls } from "@pvkit/hypervisor-sim";
import {
  BIND_PIRQ__WILL_SHARE,
  DOMID_SELF,
  EVTCHNOP,
  EVTCHNSTAT,
  type evtchn_alloc_unbound,
  type evtchn_bind_interdomain,
  type evtchn_bind_ipi,
  type evtchn_bind_pirq,
  type evtchn_bind_virq,
  type evtchn_expand_array,
  type evtchn_init_control,
  type evtchn_set_priority,
  type evtchn_status,
} from "@pvkit/hypervisor-sim/abi";
import { XenError } from "../errors.js";

/** A domid for messages: DOMID_SELF by name. */
const domName = (d: number): string => (d === DOMID_SELF ? "DOMID_SELF" : String(d));

/** The part of a vCPU's hypercall surface these wrappers use. */
export type EvtchnHypercalls = Pick<Hypercalls, "event_channel_op">;

/**
 * EVTCHNOP_alloc_unbound: a new port of domain `dom` (default: the caller) that `remoteDom`
 * may bind with bind_interdomain. Returns the port.
 * @throws XenError ESRCH (no `dom`), ENOSPC (no free port), EPERM (unprivileged, `dom` not self).
 */
export function evtchnAllocUnbound(
  hc: EvtchnHypercalls,
  remoteDom: number,
  dom: number = DOMID_SELF,
): number {
  const a: evtchn_alloc_unbound = { dom, remote_dom: remoteDom, port: 0 };
  XenError.check(
    "EVTCHNOP_alloc_unbound",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, a),
    () => `dom ${domName(dom)}, remote_dom ${domName(remoteDom)}`,
  );
  return a.port!;
}

/**
 * EVTCHNOP_bind_interdomain: connects a new local port to `remotePort` of `remoteDom`, which
 * must be UNBOUND and accept the caller. Xen sets the new local port pending at once.
 * @throws XenError ESRCH (no such domain), EINVAL (port invalid, not unbound, or not for us), ENOSPC.
 */
export function evtchnBindInterdomain(
  hc: EvtchnHypercalls,
  remoteDom: number,
  remotePort: number,
): number {
  const a: evtchn_bind_interdomain = {
    remote_dom: remoteDom,
    remote_port: remotePort,
    local_port: 0,
  };
  XenError.check(
    "EVTCHNOP_bind_interdomain",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, a),
    () => `remote_dom ${domName(remoteDom)}, remote_port ${remotePort}`,
  );
  return a.local_port!;
}

/**
 * EVTCHNOP_bind_virq: binds VIRQ `virq` on `vcpu` (a global VIRQ only on vCPU 0). Returns the port.
 * @throws XenError EINVAL (virq >= 24, or global on vcpu != 0), ENOENT (no vCPU), EEXIST (bound).
 */
export function evtchnBindVirq(hc: EvtchnHypercalls, virq: number, vcpu: number): number {
  const a: evtchn_bind_virq = { virq, vcpu, port: 0 };
  XenError.check(
    "EVTCHNOP_bind_virq",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, a),
    () => `virq ${virq}, vcpu ${vcpu}`,
  );
  return a.port!;
}

/**
 * EVTCHNOP_bind_ipi: a port that notifies `vcpu` of the caller's domain when sent on.
 * @throws XenError ENOENT (no vCPU), ENOSPC.
 */
export function evtchnBindIpi(hc: EvtchnHypercalls, vcpu: number): number {
  const a: evtchn_bind_ipi = { vcpu, port: 0 };
  XenError.check(
    "EVTCHNOP_bind_ipi",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_bind_ipi, a),
    () => `vcpu ${vcpu}`,
  );
  return a.port!;
}

/** Options of `evtchnBindPirq`. */
export interface BindPirqOptions {
  /** BIND_PIRQ__WILL_SHARE: other domains may bind the same IRQ. Default false. */
  share?: boolean;
}

/**
 * EVTCHNOP_bind_pirq: routes physical IRQ `pirq` to a new port.
 * @throws XenError EINVAL (pirq >= nr_pirqs), EPERM (no access), EEXIST (bound), EBUSY (sharing).
 */
export function evtchnBindPirq(
  hc: EvtchnHypercalls,
  pirq: number,
  opts: BindPirqOptions = {},
): number {
  const a: evtchn_bind_pirq = { pirq, flags: opts.share ? BIND_PIRQ__WILL_SHARE : 0, port: 0 };
  XenError.check(
    "EVTCHNOP_bind_pirq",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_bind_pirq, a),
    () => `pirq ${pirq}, flags ${a.flags}`,
  );
  return a.port!;
}

/**
 * EVTCHNOP_close: frees `port`; an interdomain peer goes back to UNBOUND.
 * @throws XenError EINVAL (invalid, free or Xen-owned port).
 */
export function evtchnClose(hc: EvtchnHypercalls, port: number): void {
  XenError.check(
    "EVTCHNOP_close",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_close, { port }),
    () => `port ${port}`,
  );
}

/**
 * EVTCHNOP_send: notifies the other end (interdomain), or the port's own vCPU (IPI). Sending on
 * an UNBOUND port succeeds and is dropped, as Xen does.
 * @throws XenError EINVAL (invalid port, or a VIRQ/PIRQ/free port).
 */
export function evtchnSend(hc: EvtchnHypercalls, port: number): void {
  XenError.check(
    "EVTCHNOP_send",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port }),
    () => `port ${port}`,
  );
}

/**
 * EVTCHNOP_bind_vcpu: future notifications of `port` go to `vcpu`.
 * @throws XenError ENOENT (no vCPU; checked first), EINVAL (bad port, IPI, per-vCPU VIRQ).
 */
export function evtchnBindVcpu(hc: EvtchnHypercalls, port: number, vcpu: number): void {
  XenError.check(
    "EVTCHNOP_bind_vcpu",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_bind_vcpu, { port, vcpu }),
    () => `port ${port}, vcpu ${vcpu}`,
  );
}

/**
 * EVTCHNOP_unmask: clears the mask bit and re-raises the port if it was masked and is pending
 * (`event_channel.c`: `evtchn_unmask`; `event_2l.c`: `evtchn_2l_unmask`). An already-clear mask
 * bit makes this a no-op.
 * @throws XenError EINVAL (port beyond the allocated buckets).
 */
export function evtchnUnmask(hc: EvtchnHypercalls, port: number): void {
  XenError.check(
    "EVTCHNOP_unmask",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_unmask, { port }),
    () => `port ${port}`,
  );
}

/**
 * EVTCHNOP_reset: closes every port of `dom` (default: the caller).
 * @throws XenError ESRCH, EPERM, EINVAL (another domain that is not paused), EBUSY, EAGAIN.
 */
export function evtchnReset(hc: EvtchnHypercalls, dom: number = DOMID_SELF): void {
  XenError.check(
    "EVTCHNOP_reset",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_reset, { dom }),
    () => `dom ${domName(dom)}`,
  );
}

/**
 * EVTCHNOP_init_control: registers the FIFO control block of `vcpu` (72 bytes at byte `offset`
 * of guest frame `controlGfn`). The first success switches the caller's domain to the FIFO ABI
 * (`xen/common/event_fifo.c`: `evtchn_fifo_init_control`). Returns `link_bits` (17).
 * @throws XenError ENOENT (no vCPU), EINVAL (offset > 4024 or not 8-aligned, vCPU already has a
 * block, frame not writable RAM); ENOSYS from a hypervisor without the FIFO ABI.
 */
export function evtchnInitControl(
  hc: EvtchnHypercalls,
  controlGfn: number,
  offset: number,
  vcpu: number,
): number {
  const a: evtchn_init_control = { control_gfn: controlGfn, offset, vcpu, link_bits: 0 };
  XenError.check(
    "EVTCHNOP_init_control",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_init_control, a),
    () => `control_gfn ${controlGfn}, offset ${offset}, vcpu ${vcpu}`,
  );
  return a.link_bits!;
}

/**
 * EVTCHNOP_expand_array: guest frame `arrayGfn` becomes the next 1024 FIFO event words. Ports in
 * the new range raised while their page was missing are raised again.
 * @throws XenError EOPNOTSUPP (no init_control yet), ENOSPC (128 pages already), EINVAL (bad frame).
 */
export function evtchnExpandArray(hc: EvtchnHypercalls, arrayGfn: number): void {
  const a: evtchn_expand_array = { array_gfn: arrayGfn };
  XenError.check(
    "EVTCHNOP_expand_array",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_expand_array, a),
    () => `array_gfn ${arrayGfn}`,
  );
}

/**
 * EVTCHNOP_set_priority: the FIFO queue (0 highest .. 15 lowest) `port` is linked on from its
 * next raise; every bind starts at 7.
 * @throws XenError EINVAL (invalid port, priority > 15), ENOSYS (2-level ABI), EACCES (port not usable).
 */
export function evtchnSetPriority(hc: EvtchnHypercalls, port: number, priority: number): void {
  const a: evtchn_set_priority = { port, priority };
  XenError.check(
    "EVTCHNOP_set_priority",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_set_priority, a),
    () => `port ${port}, priority ${priority}`,
  );
}

/** What EVTCHNOP_status reports, as a discriminated union on `state` (`EVTCHNSTAT_*`). */
export type EvtchnStatus =
  | { readonly state: "closed"; readonly vcpu: number }
  | { readonly state: "unbound"; readonly vcpu: number; readonly remoteDom: number }
  | {
      readonly state: "interdomain";
      readonly vcpu: number;
      readonly remoteDom: number;
      readonly remotePort: number;
    }
  | { readonly state: "pirq"; readonly vcpu: number; readonly pirq: number }
  | { readonly state: "virq"; readonly vcpu: number; readonly virq: number }
  | { readonly state: "ipi"; readonly vcpu: number };

/** The possible `EvtchnStatus["state"]` values. */
export type EvtchnState = EvtchnStatus["state"];

/**
 * EVTCHNOP_status of `port` in `dom` (default: the caller). `vcpu` is the notify vCPU.
 * @throws XenError ESRCH (no domain), EINVAL (port invalid), EACCES (Xen-owned), EPERM.
 */
export function evtchnStatus(
  hc: EvtchnHypercalls,
  port: number,
  dom: number = DOMID_SELF,
): EvtchnStatus {
  const a: evtchn_status = { dom, port };
  XenError.check(
    "EVTCHNOP_status",
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_status, a),
    () => `dom ${domName(dom)}, port ${port}`,
  );
  const vcpu = a.vcpu ?? 0;
  const u = a.u ?? {};
  switch (a.status) {
    case EVTCHNSTAT.EVTCHNSTAT_closed:
      return { state: "closed", vcpu };
    case EVTCHNSTAT.EVTCHNSTAT_unbound:
      return { state: "unbound", vcpu, remoteDom: u.unbound?.dom ?? 0 };
    case EVTCHNSTAT.EVTCHNSTAT_interdomain:
      return {
        state: "interdomain",
        vcpu,
        remoteDom: u.interdomain?.dom ?? 0,
        remotePort: u.interdomain?.port ?? 0,
      };
    case EVTCHNSTAT.EVTCHNSTAT_pirq:
      return { state: "pirq", vcpu, pirq: u.pirq ?? 0 };
    case EVTCHNSTAT.EVTCHNSTAT_virq:
      return { state: "virq", vcpu, virq: u.virq ?? 0 };
    case EVTCHNSTAT.EVTCHNSTAT_ipi:
      return { state: "ipi", vcpu };
    default:
      throw new RangeError(
        `EVTCHNOP_status returned unknown status ${String(a.status)} for port ${port}`,
      );
  }
}
