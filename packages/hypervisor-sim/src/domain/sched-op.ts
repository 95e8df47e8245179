/**
 * HYPERVISOR_sched_op (29), `sched.h` (`xen/common/sched/core.c`: `do_sched_op`): yield, block,
 * poll and shutdown for an async guest, which awaits the result. Each command calls `traced(rc)`
 * (the dispatcher's trace of the call) once its result is known, before the guest waits.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { SCHEDOP, type sched_poll, type sched_shutdown } from "../abi/sched.js";
import { portIsPending, wakePoller } from "../evtchn/delivery.js";
import type { XenContext } from "../xen-context.js";
import type { Vcpu } from "./vcpu.js";

const { EINVAL, ENOSYS, EFAULT } = XEN_ERRNO;

/** `nr_ports` above this is -EINVAL (`do_poll`). */
const SCHED_POLL_MAX_PORTS = 128;

/**
 * One SCHEDOP_* command of vCPU `v`: SCHEDOP_block resolves once an event is pending for this
 * vCPU (upcalls are unmasked first, as `vcpu_block_enable_events`); SCHEDOP_poll resolves when a
 * listed port is pending, an upcall becomes pending, or the absolute `timeout` (ns) passes;
 * SCHEDOP_yield after queued deliveries had a turn; SCHEDOP_shutdown shuts the domain down.
 * Other commands -ENOSYS.
 */
export function schedOp(
  xen: XenContext,
  v: Vcpu,
  cmd: number,
  arg: unknown,
  traced: (arg: unknown, rc: number) => number,
): Promise<number> {
  switch (cmd) {
    case SCHEDOP.SCHEDOP_yield:
      traced(arg ?? null, 0);
      return new Promise((resolve) => xen.scheduler.defer(() => resolve(0)));
    case SCHEDOP.SCHEDOP_block: {
      v.upcallMask = 0;
      traced(arg ?? null, 0);
      if (v.upcallPending) return Promise.resolve(0);
      return new Promise((resolve) => v.blockWaiters.push(() => resolve(0)));
    }
    case SCHEDOP.SCHEDOP_poll:
      return poll(xen, v, arg as sched_poll, traced);
    case SCHEDOP.SCHEDOP_shutdown: {
      const a = arg as sched_shutdown | undefined;
      if (a === null || typeof a !== "object") return Promise.resolve(traced(a, -EFAULT));
      traced(a, 0);
      xen.shutdownDomain(v.domain.domid, a.reason & 0xff);
      return Promise.resolve(0);
    }
    default:
      return Promise.resolve(traced(arg ?? null, -ENOSYS));
  }
}

/** SCHEDOP_poll (`do_poll`). */
function poll(
  xen: XenContext,
  v: Vcpu,
  a: sched_poll,
  traced: (arg: unknown, rc: number) => number,
): Promise<number> {
  const d = v.domain;
  const fail = (rc: number): Promise<number> => Promise.resolve(traced(a, rc));
  if (a === null || typeof a !== "object") return fail(-EFAULT);
  if (!(a.nr_ports >= 0) || a.nr_ports > SCHED_POLL_MAX_PORTS) return fail(-EINVAL);
  if (!Array.isArray(a.ports) || a.ports.length < a.nr_ports) return fail(-EFAULT);
  if (v.eventsNeedDelivery) return fail(0);
  const ports = a.ports.slice(0, a.nr_ports);
  for (const port of ports) {
    // `evtchn_port_poll()` starts from -EINVAL: a port beyond the valid (bucket-allocated) range
    // or one not usable (port 0, FREE, a Xen consumer) fails the poll at once, whatever its
    // pending bit says; a usable pending port ends it with 0. The first port that decides wins.
    if (!d.evtchn.isValid(port) || !d.evtchn.isUsable(port)) return fail(-EINVAL);
    if (portIsPending(d, port)) return fail(0);
  }
  traced(a, 0);
  return new Promise<number>((resolve) => {
    v.poll = { ports, timer: undefined, resolve };
    d.pollers++;
    if (a.timeout !== 0) v.poll.timer = xen.scheduler.at(a.timeout, () => wakePoller(xen, v, 0));
  });
}
