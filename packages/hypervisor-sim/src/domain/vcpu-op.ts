/**
 * The vCPU timer hypercalls: HYPERVISOR_vcpu_op (24, `vcpu.h`; `xen/common/domain.c`:
 * `do_vcpu_op`) and HYPERVISOR_set_timer_op (15), and the single-shot timer they arm, which
 * raises VIRQ_TIMER when it fires (`vcpu_singleshot_timer_fn`).
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { VCPUOP, VCPU_SSHOTTMR_future, type vcpu_set_singleshot_timer } from "../abi/vcpu.js";
import { VIRQ } from "../abi/xen.js";
import { sendGuestVcpuVirq } from "../evtchn/delivery.js";
import type { XenContext } from "../xen-context.js";
import { updateVcpuTime } from "./vcpu-time.js";
import type { Vcpu } from "./vcpu.js";

const { EINVAL, ENOSYS, ENOENT, EFAULT, ETIME } = XEN_ERRNO;

/** Where `set_timer_op` puts a negative or absurdly distant timeout: 100 ms ahead, as Xen does. */
const SET_TIMER_FALLBACK_NS = 100_000_000;

/** Arms (or with `at` = 0, stops) a vCPU's single-shot timer at absolute virtual time `at` ns. */
export function setSingleshotTimer(xen: XenContext, v: Vcpu, at: number): void {
  v.singleshot?.cancel();
  v.singleshot = undefined;
  if (at === 0) return;
  v.singleshot = xen.scheduler.at(at, () => {
    v.singleshot = undefined;
    const seq = xen.nextTraceSeq();
    if (xen.trace.enabled.timer) {
      xen.trace.emit("timer", {
        t: xen.scheduler.now,
        seq,
        domid: v.domain.domid,
        vcpu: v.id,
      });
    }
    updateVcpuTime(v, xen.scheduler.now);
    sendGuestVcpuVirq(xen, v, VIRQ.VIRQ_TIMER);
  });
}

/**
 * HYPERVISOR_set_timer_op: arm `v`'s single-shot timer at absolute `timeout` ns; 0 stops it.
 * Like Xen, a negative timeout or one 2^50 ns or more ahead (a wrapped guest clock) is not an
 * error: the timer fires 100 ms from now. Always returns 0.
 */
export function setTimerOp(xen: XenContext, v: Vcpu, timeout: number): number {
  const t = Math.trunc(Number(timeout)) || 0;
  if (t === 0) setSingleshotTimer(xen, v, 0);
  else if (t < 0 || t - xen.now >= 2 ** 50)
    setSingleshotTimer(xen, v, xen.now + SET_TIMER_FALLBACK_NS);
  else setSingleshotTimer(xen, v, t);
  return 0;
}

/**
 * HYPERVISOR_vcpu_op from vCPU `v` on its domain's vCPU `vcpuid`: is_up, set/stop_singleshot_timer
 * (only on the calling vCPU, as Xen requires). -ENOENT for a vCPU the domain lacks; other
 * commands -ENOSYS.
 */
export function vcpuOp(
  xen: XenContext,
  v: Vcpu,
  cmd: number,
  vcpuid: number,
  arg: unknown,
): number {
  const target = v.domain.vcpu(vcpuid);
  if (target === undefined) return -ENOENT;
  switch (cmd) {
    case VCPUOP.VCPUOP_is_up:
      return 1;
    case VCPUOP.VCPUOP_set_singleshot_timer: {
      if (target !== v) return -EINVAL;
      const a = arg as vcpu_set_singleshot_timer;
      if (a === null || typeof a !== "object" || !Number.isInteger(a.timeout_abs_ns))
        return -EFAULT;
      if ((a.flags & VCPU_SSHOTTMR_future) !== 0 && a.timeout_abs_ns < xen.now) return -ETIME;
      setSingleshotTimer(xen, target, Math.max(a.timeout_abs_ns, 1));
      return 0;
    }
    case VCPUOP.VCPUOP_stop_singleshot_timer:
      if (target !== v) return -EINVAL;
      setSingleshotTimer(xen, target, 0);
      return 0;
    default:
      return -ENOSYS;
  }
}
