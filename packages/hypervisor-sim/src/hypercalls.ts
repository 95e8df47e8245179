/**
 * The hypercall surface of one vCPU, a dispatcher: each hypercall goes to the subsystem that
 * implements it (`evtchn/`, `gnttab/`, `domain/sched-op.ts`, `domain/vcpu-op.ts`,
 * `memory/memory-op.ts`, `domain/domctl.ts`), then is traced with its arguments and result and
 * checks for a deliverable upcall on exit. Every call returns 0 (or a documented positive value)
 * or a negative Xen errno and never throws for bad guest input; argument objects use the C field
 * names and OUT fields are written back into them.
 */
import { XEN_ERRNO } from "./abi/errno.js";
import { EVTCHNOP, type EvtchnOpArgs, type evtchn_op } from "./abi/event-channel.js";
import { GNTTABOP, type GnttabOpArgs } from "./abi/grant-table.js";
import { XENVER } from "./abi/xen.js";
import { SCHEDOP } from "./abi/sched.js";
import { VCPUOP } from "./abi/vcpu.js";
import { XENMEM } from "./abi/memory.js";
import type { xen_domctl } from "./abi/domctl.js";
import { domctl } from "./domain/domctl.js";
import { schedOp } from "./domain/sched-op.js";
import { setTimerOp, vcpuOp } from "./domain/vcpu-op.js";
import type { UpcallHandler, Vcpu } from "./domain/vcpu.js";
import { checkUpcall } from "./evtchn/delivery.js";
import * as fifo from "./evtchn/fifo-ops.js";
import * as evtchn from "./evtchn/ops.js";
import { grantTableOp } from "./gnttab/ops.js";
import { memoryOp } from "./memory/memory-op.js";
import type { XenContext } from "./xen-context.js";

const { ENOSYS, EFAULT } = XEN_ERRNO;

const EVTCHNOP_NAMES = invert(EVTCHNOP);
/** EVTCHNOP names by number, for the per-call trace name without a Map lookup. */
const EVTCHNOP_NAME_LIST: readonly string[] = Array.from(
  { length: 15 },
  (_, i) => EVTCHNOP_NAMES.get(i) ?? "EVTCHNOP_unknown",
);
const GNTTABOP_NAMES = invert(GNTTABOP);
const SCHEDOP_NAMES = invert(SCHEDOP);
const VCPUOP_NAMES = invert(VCPUOP);
const XENMEM_NAMES = invert(XENMEM);
const XENVER_NAMES = invert(XENVER);

function invert(o: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(o).map(([k, v]) => [v, k]));
}

/** Xen 4.17: `XENVER_version` answers major << 16 | minor. */
export const XEN_VERSION = (4 << 16) | 17;

let make: (xen: XenContext, v: Vcpu) => Hypercalls;

/**
 * The hypercalls one vCPU of a guest issues (`Guest.vcpu(id)`, `Guest.hypercall`), with Xen's C
 * names and argument structs: `event_channel_op`, `grant_table_op`, `sched_op`, `vcpu_op`,
 * `set_timer_op`, `memory_op`, `xen_version`, `domctl`. Each returns 0 (or a documented positive
 * value) or a negative errno (`XEN_ERRNO`) and never throws for bad guest input.
 */
export class Hypercalls {
  readonly #hv: XenContext;
  readonly #v: Vcpu;

  static {
    make = (xen, v) => new Hypercalls(xen, v);
  }

  private constructor(hv: XenContext, v: Vcpu) {
    this.#hv = hv;
    this.#v = v;
  }

  /** The calling vCPU's id. */
  get vcpuId(): number {
    return this.#v.id;
  }

  /** The calling domain's id. */
  get domid(): number {
    return this.#v.domain.domid;
  }

  /** Registers this vCPU's upcall handler (see Guest.registerUpcall). */
  registerUpcall(handler: UpcallHandler | undefined): void {
    this.#v.upcall = handler;
    if (handler !== undefined) checkUpcall(this.#hv, this.#v);
  }

  /** Traces the call (when someone listens) and checks for a deliverable upcall on exit. */
  #done(hypercall: string, cmd: string | (() => string), args: unknown, rc: number): number {
    const hv = this.#hv;
    const seq = hv.nextTraceSeq();
    if (hv.trace.enabled.hypercall) {
      hv.trace.emit("hypercall", {
        t: hv.now,
        seq,
        domid: this.#v.domain.domid,
        vcpu: this.#v.id,
        hypercall,
        cmd: typeof cmd === "string" ? cmd : cmd(),
        args: structuredClone(args),
        result: rc,
      });
    }
    checkUpcall(hv, this.#v);
    return rc;
  }

  /**
   * HYPERVISOR_event_channel_op (32), `event_channel.h`. Returns 0 or -errno (`event_channel.c`:
   * `do_event_channel_op`); OUT fields are written on success. init_control / expand_array /
   * set_priority drive the FIFO ABI (`event_fifo.c`).
   */
  event_channel_op<C extends keyof EvtchnOpArgs>(cmd: C, arg: EvtchnOpArgs[C]): number;
  event_channel_op(cmd: number, arg: unknown): number;
  event_channel_op(cmd: number, arg: unknown): number {
    const rc = this.#evtchn(cmd, arg);
    return this.#done("event_channel_op", EVTCHNOP_NAME_LIST[cmd] ?? "EVTCHNOP_unknown", arg, rc);
  }

  /** HYPERVISOR_event_channel_op_compat (16): one `struct evtchn_op`; the union covers cmds 0–9. */
  event_channel_op_compat(op: evtchn_op): number {
    if (op === null || typeof op !== "object")
      return this.#done("event_channel_op_compat", "?", op, -EFAULT);
    const rc = op.cmd >= 0 && op.cmd <= 9 ? this.#evtchn(op.cmd, op.u) : -ENOSYS;
    return this.#done(
      "event_channel_op_compat",
      EVTCHNOP_NAMES.get(op.cmd) ?? `EVTCHNOP_${op.cmd}`,
      op,
      rc,
    );
  }

  #evtchn(cmd: number, arg: unknown): number {
    // Xen copies the argument inside each known command, so an unknown one is -ENOSYS whatever
    // the argument, and a known one with an unreadable argument is -EFAULT.
    if (!(cmd >= EVTCHNOP.EVTCHNOP_bind_interdomain && cmd <= EVTCHNOP.EVTCHNOP_reset_cont))
      return -ENOSYS;
    if (arg === null || typeof arg !== "object") return -EFAULT;
    const hv = this.#hv;
    const v = this.#v;
    const a = arg as never;
    switch (cmd) {
      case EVTCHNOP.EVTCHNOP_alloc_unbound:
        return evtchn.allocUnbound(hv, v, a);
      case EVTCHNOP.EVTCHNOP_bind_interdomain:
        return evtchn.bindInterdomain(hv, v, a);
      case EVTCHNOP.EVTCHNOP_bind_virq:
        return evtchn.bindVirq(hv, v, a);
      case EVTCHNOP.EVTCHNOP_bind_ipi:
        return evtchn.bindIpi(hv, v, a);
      case EVTCHNOP.EVTCHNOP_bind_pirq:
        return evtchn.bindPirq(hv, v, a);
      case EVTCHNOP.EVTCHNOP_close:
        return evtchn.close(hv, v, a);
      case EVTCHNOP.EVTCHNOP_send:
        return evtchn.send(hv, v, a);
      case EVTCHNOP.EVTCHNOP_status:
        return evtchn.status(hv, v, a);
      case EVTCHNOP.EVTCHNOP_bind_vcpu:
        return evtchn.bindVcpu(hv, v, a);
      case EVTCHNOP.EVTCHNOP_unmask:
        return evtchn.unmask(hv, v, a);
      case EVTCHNOP.EVTCHNOP_reset:
        return evtchn.reset(hv, v, a, false);
      case EVTCHNOP.EVTCHNOP_reset_cont:
        return evtchn.reset(hv, v, a, true);
      case EVTCHNOP.EVTCHNOP_init_control:
        return fifo.initControl(hv, v, a);
      case EVTCHNOP.EVTCHNOP_expand_array:
        return fifo.expandArray(hv, v, a);
      case EVTCHNOP.EVTCHNOP_set_priority:
        return fifo.setPriority(hv, v, a);
      default:
        return -ENOSYS;
    }
  }

  /**
   * HYPERVISOR_grant_table_op (20), `grant_table.h`. Batched ops write a GNTST_* `status` into
   * each element and return 0 (`grant_table.c`: `do_grant_table_op`).
   */
  grant_table_op<C extends keyof GnttabOpArgs>(
    cmd: C,
    args: GnttabOpArgs[C][],
    count: number,
  ): number;
  grant_table_op(cmd: number, args: unknown[], count: number): number;
  grant_table_op(cmd: number, args: unknown[], count: number): number {
    const rc = grantTableOp(this.#hv, this.#v, cmd, args, count);
    return this.#done(
      "grant_table_op",
      GNTTABOP_NAMES.get(cmd & 0xfff) ?? "GNTTABOP_unknown",
      args,
      rc,
    );
  }

  /**
   * HYPERVISOR_sched_op (29). An async guest awaits the result: SCHEDOP_block resolves once an
   * event is pending for this vCPU (upcalls are unmasked first, as `vcpu_block_enable_events`);
   * SCHEDOP_poll resolves when a listed port is pending, an upcall becomes pending, or the
   * absolute `timeout` (ns) passes; SCHEDOP_yield after queued deliveries had a turn.
   */
  sched_op(cmd: number, arg?: unknown): Promise<number> {
    const name = SCHEDOP_NAMES.get(cmd) ?? `SCHEDOP_${cmd}`;
    return schedOp(this.#hv, this.#v, cmd, arg, (traced, rc) =>
      this.#done("sched_op", name, traced, rc),
    );
  }

  /**
   * HYPERVISOR_set_timer_op (15): arm this vCPU's single-shot timer at absolute `timeout` ns;
   * 0 stops it. Like Xen, a negative timeout or one 2^50 ns or more ahead (a wrapped guest clock)
   * is not an error: the timer fires 100 ms from now. Always returns 0.
   */
  set_timer_op(timeout: number): number {
    return this.#done(
      "set_timer_op",
      "set_timer_op",
      { timeout },
      setTimerOp(this.#hv, this.#v, timeout),
    );
  }

  /**
   * HYPERVISOR_vcpu_op (24), `vcpu.h`: is_up, set/stop_singleshot_timer (only on the calling
   * vCPU, as Xen requires). -ENOENT for a vCPU the domain lacks; other commands -ENOSYS.
   */
  vcpu_op(cmd: number, vcpuid: number, arg?: unknown): number {
    const rc = vcpuOp(this.#hv, this.#v, cmd, vcpuid, arg);
    return this.#done(
      "vcpu_op",
      VCPUOP_NAMES.get(cmd) ?? `VCPUOP_${cmd}`,
      { vcpuid, arg: arg ?? null },
      rc,
    );
  }

  /**
   * HYPERVISOR_memory_op (12): XENMEM_add_to_physmap for shared_info and grant-table frames
   * (-ENXIO over a grant mapping; RAM there is freed), XENMEM_add_to_physmap_batch for
   * gmfn_foreign, XENMEM_remove_from_physmap (-ENOENT for a hole or a grant mapping; RAM removed
   * stays allocated) and the reservation queries (current: RAM pages the domain holds). Results
   * per kind of entry: `memory/physmap-ops.ts`. Other commands -ENOSYS.
   */
  memory_op(cmd: number, arg?: unknown): number {
    const rc = memoryOp(this.#hv, this.#v.domain, cmd, arg);
    return this.#done("memory_op", XENMEM_NAMES.get(cmd) ?? `XENMEM_${cmd}`, arg ?? null, rc);
  }

  /** HYPERVISOR_xen_version (17): XENVER_version gives 4.17; a cheap way to force an upcall check. */
  xen_version(cmd: number): number {
    const rc =
      cmd === XENVER.XENVER_version
        ? XEN_VERSION
        : cmd === XENVER.XENVER_get_features
          ? 0
          : -ENOSYS;
    return this.#done("xen_version", XENVER_NAMES.get(cmd) ?? "XENVER_unknown", { cmd }, rc);
  }

  /**
   * HYPERVISOR_domctl (36), privileged: XEN_DOMCTL_irq_permission. -EFAULT, -ESRCH (unknown
   * domain), -EPERM (not the control domain), -ENOSYS (other commands), in do_domctl's order.
   */
  domctl(op: xen_domctl): number {
    return this.#done("domctl", `XEN_DOMCTL_${op?.cmd}`, op, domctl(this.#hv, this.#v.domain, op));
  }
}

/** Creates the hypercall surface of vCPU `v` (for `Guest`). */
export function newHypercalls(xen: XenContext, v: Vcpu): Hypercalls {
  return make(xen, v);
}
