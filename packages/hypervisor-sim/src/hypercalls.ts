/**
 * The hypercall surface of one vCPU. Every call returns 0 (or a documented positive value) or a
 * negative Xen errno and never throws for bad guest input; argument objects use the C field names
 * and OUT fields are written back into them. Each call is traced with its arguments and result.
 */
import { XEN_ERRNO } from "./abi/errno.js";
import { EVTCHNOP, type EvtchnOpArgs, type evtchn_op } from "./abi/event-channel.js";
import { GNTTABOP, type GnttabOpArgs } from "./abi/grant-table.js";
import { DOMID_SELF, XENVER } from "./abi/xen.js";
import { SCHEDOP, type sched_poll, type sched_shutdown } from "./abi/sched.js";
import { VCPUOP, VCPU_SSHOTTMR_future, type vcpu_set_singleshot_timer } from "./abi/vcpu.js";
import {
  XENMAPSPACE,
  XENMEM,
  type xen_add_to_physmap,
  type xen_add_to_physmap_batch,
  type xen_remove_from_physmap,
} from "./abi/memory.js";
import { XEN_DOMCTL_irq_permission, type xen_domctl } from "./abi/domctl.js";
import type { UpcallHandler, Vcpu } from "./domain/vcpu.js";
import * as fifo from "./evtchn/fifo-ops.js";
import * as evtchn from "./evtchn/ops.js";
import { xsmTarget } from "./xsm/dummy.js";
import { isU64 } from "./gnttab/guest-args.js";
import { grantTableOp } from "./gnttab/ops.js";
import { removeBeforeXenPage, removeFromPhysmap } from "./memory/physmap-ops.js";
import type { Hypervisor } from "./hypervisor.js";

const { EINVAL, ENOSYS, ENOENT, EFAULT, ETIME, EPERM, ESRCH, EBUSY, EOPNOTSUPP } = XEN_ERRNO;

const EVTCHNOP_NAMES = invert(EVTCHNOP);
/** EVTCHNOP names by number, for the per-call trace name without a Map lookup. */
const EVTCHNOP_NAME_LIST: readonly string[] = Array.from({ length: 15 }, (_, i) => EVTCHNOP_NAMES.get(i) ?? "EVTCHNOP_unknown");
const GNTTABOP_NAMES = invert(GNTTABOP);
const SCHEDOP_NAMES = invert(SCHEDOP);
const VCPUOP_NAMES = invert(VCPUOP);
const XENMEM_NAMES = invert(XENMEM);
const XENVER_NAMES = invert(XENVER);

function invert(o: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(o).map(([k, v]) => [v, k]));
}

/** Where `set_timer_op` puts a negative or absurdly distant timeout: 100 ms ahead, as Xen does. */
const SET_TIMER_FALLBACK_NS = 100_000_000;

/** Xen 4.17: `XENVER_version` answers major << 16 | minor. */
export const XEN_VERSION = (4 << 16) | 17;

export class Hypercalls {
  readonly #hv: Hypervisor;
  readonly #v: Vcpu;

  constructor(hv: Hypervisor, v: Vcpu) {
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
    if (handler !== undefined) this.#hv.checkUpcall(this.#v);
  }

  /** Traces the call (when someone listens) and checks for a deliverable upcall on exit. */
  #done(hypercall: string, cmd: string | (() => string), args: unknown, rc: number): number {
    const hv = this.#hv;
    if (hv.trace.enabled.hypercall) {
      hv.trace.emit("hypercall", {
        t: hv.now,
        seq: hv.nextTraceSeq(),
        domid: this.#v.domain.domid,
        vcpu: this.#v.id,
        hypercall,
        cmd: typeof cmd === "string" ? cmd : cmd(),
        args: structuredClone(args),
        result: rc,
      });
    }
    hv.checkUpcall(this.#v);
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
    if (op === null || typeof op !== "object") return this.#done("event_channel_op_compat", "?", op, -EFAULT);
    const rc = op.cmd >= 0 && op.cmd <= 9 ? this.#evtchn(op.cmd, op.u) : -ENOSYS;
    return this.#done("event_channel_op_compat", EVTCHNOP_NAMES.get(op.cmd) ?? `EVTCHNOP_${op.cmd}`, op, rc);
  }

  #evtchn(cmd: number, arg: unknown): number {
    // Xen copies the argument inside each known command, so an unknown one is -ENOSYS whatever
    // the argument, and a known one with an unreadable argument is -EFAULT.
    if (!(cmd >= EVTCHNOP.EVTCHNOP_bind_interdomain && cmd <= EVTCHNOP.EVTCHNOP_reset_cont)) return -ENOSYS;
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
  grant_table_op<C extends keyof GnttabOpArgs>(cmd: C, args: GnttabOpArgs[C][], count: number): number;
  grant_table_op(cmd: number, args: unknown[], count: number): number;
  grant_table_op(cmd: number, args: unknown[], count: number): number {
    const rc = grantTableOp(this.#hv, this.#v, cmd, args, count);
    return this.#done("grant_table_op", GNTTABOP_NAMES.get(cmd & 0xfff) ?? "GNTTABOP_unknown", args, rc);
  }

  /**
   * HYPERVISOR_sched_op (29). An async guest awaits the result: SCHEDOP_block resolves once an
   * event is pending for this vCPU (upcalls are unmasked first, as `vcpu_block_enable_events`);
   * SCHEDOP_poll resolves when a listed port is pending, an upcall becomes pending, or the
   * absolute `timeout` (ns) passes; SCHEDOP_yield after queued deliveries had a turn.
   */
  sched_op(cmd: number, arg?: unknown): Promise<number> {
    const name = SCHEDOP_NAMES.get(cmd) ?? `SCHEDOP_${cmd}`;
    const v = this.#v;
    const hv = this.#hv;
    switch (cmd) {
      case SCHEDOP.SCHEDOP_yield:
        this.#done("sched_op", name, arg ?? null, 0);
        return new Promise((resolve) => hv.scheduler.defer(() => resolve(0)));
      case SCHEDOP.SCHEDOP_block: {
        v.upcallMask = 0;
        this.#done("sched_op", name, arg ?? null, 0);
        if (v.upcallPending) return Promise.resolve(0);
        return new Promise((resolve) => v.blockWaiters.push(() => resolve(0)));
      }
      case SCHEDOP.SCHEDOP_poll:
        return this.#poll(name, arg as sched_poll);
      case SCHEDOP.SCHEDOP_shutdown: {
        const a = arg as sched_shutdown | undefined;
        if (a === null || typeof a !== "object") return Promise.resolve(this.#done("sched_op", name, a, -EFAULT));
        this.#done("sched_op", name, a, 0);
        hv.shutdownDomain(v.domain.domid, a.reason & 0xff);
        return Promise.resolve(0);
      }
      default:
        return Promise.resolve(this.#done("sched_op", name, arg ?? null, -ENOSYS));
    }
  }

  #poll(name: string, a: sched_poll): Promise<number> {
    const v = this.#v;
    const hv = this.#hv;
    const d = v.domain;
    const fail = (rc: number): Promise<number> => Promise.resolve(this.#done("sched_op", name, a, rc));
    if (a === null || typeof a !== "object") return fail(-EFAULT);
    if (!(a.nr_ports >= 0) || a.nr_ports > 128) return fail(-EINVAL);
    if (!Array.isArray(a.ports) || a.ports.length < a.nr_ports) return fail(-EFAULT);
    if (v.eventsNeedDelivery) return fail(0);
    const ports = a.ports.slice(0, a.nr_ports);
    for (const port of ports) {
      // `evtchn_port_poll()` starts from -EINVAL: a port beyond the valid (bucket-allocated) range
      // or one not usable (port 0, FREE, a Xen consumer) fails the poll at once, whatever its
      // pending bit says; a usable pending port ends it with 0. The first port that decides wins.
      if (!d.evtchn.isValid(port) || !d.evtchn.isUsable(port)) return fail(-EINVAL);
      if (hv.portIsPending(d, port)) return fail(0);
    }
    this.#done("sched_op", name, a, 0);
    return new Promise<number>((resolve) => {
      v.poll = { ports, timer: undefined, resolve };
      d.pollers++;
      if (a.timeout !== 0) v.poll.timer = hv.scheduler.at(a.timeout, () => hv.wakePoller(v, 0));
    });
  }

  /**
   * HYPERVISOR_set_timer_op (15): arm this vCPU's single-shot timer at absolute `timeout` ns;
   * 0 stops it. Like Xen, a negative timeout or one 2^50 ns or more ahead (a wrapped guest clock)
   * is not an error: the timer fires 100 ms from now. Always returns 0.
   */
  set_timer_op(timeout: number): number {
    const hv = this.#hv;
    const t = Math.trunc(Number(timeout)) || 0;
    if (t === 0) hv.setSingleshotTimer(this.#v, 0);
    else if (t < 0 || t - hv.now >= 2 ** 50) hv.setSingleshotTimer(this.#v, hv.now + SET_TIMER_FALLBACK_NS);
    else hv.setSingleshotTimer(this.#v, t);
    return this.#done("set_timer_op", "set_timer_op", { timeout }, 0);
  }

  /**
   * HYPERVISOR_vcpu_op (24), `vcpu.h`: is_up, set/stop_singleshot_timer (only on the calling
   * vCPU, as Xen requires). -ENOENT for a vCPU the domain lacks; other commands -ENOSYS.
   */
  vcpu_op(cmd: number, vcpuid: number, arg?: unknown): number {
    const rc = this.#vcpuOp(cmd, vcpuid, arg);
    return this.#done("vcpu_op", VCPUOP_NAMES.get(cmd) ?? `VCPUOP_${cmd}`, { vcpuid, arg: arg ?? null }, rc);
  }

  #vcpuOp(cmd: number, vcpuid: number, arg: unknown): number {
    const target = this.#v.domain.vcpu(vcpuid);
    if (target === undefined) return -ENOENT;
    switch (cmd) {
      case VCPUOP.VCPUOP_is_up:
        return 1;
      case VCPUOP.VCPUOP_set_singleshot_timer: {
        if (target !== this.#v) return -EINVAL;
        const a = arg as vcpu_set_singleshot_timer;
        if (a === null || typeof a !== "object" || !Number.isInteger(a.timeout_abs_ns)) return -EFAULT;
        if ((a.flags & VCPU_SSHOTTMR_future) !== 0 && a.timeout_abs_ns < this.#hv.now) return -ETIME;
        this.#hv.setSingleshotTimer(target, Math.max(a.timeout_abs_ns, 1));
        return 0;
      }
      case VCPUOP.VCPUOP_stop_singleshot_timer:
        if (target !== this.#v) return -EINVAL;
        this.#hv.setSingleshotTimer(target, 0);
        return 0;
      default:
        return -ENOSYS;
    }
  }

  /**
   * HYPERVISOR_memory_op (12): XENMEM_add_to_physmap for shared_info and grant-table frames
   * (-ENXIO over a grant mapping; RAM there is freed), XENMEM_add_to_physmap_batch for
   * gmfn_foreign, XENMEM_remove_from_physmap (-ENOENT for a hole or a grant mapping; RAM removed
   * stays allocated) and the reservation queries (current: RAM pages the domain holds). Results
   * per kind of entry: `memory/physmap-ops.ts`. Other commands -ENOSYS.
   */
  memory_op(cmd: number, arg?: unknown): number {
    const rc = this.#memoryOp(cmd, arg);
    return this.#done("memory_op", XENMEM_NAMES.get(cmd) ?? `XENMEM_${cmd}`, arg ?? null, rc);
  }

  #memoryOp(cmd: number, arg: unknown): number {
    const hv = this.#hv;
    const caller = this.#v.domain;
    switch (cmd) {
      case XENMEM.XENMEM_current_reservation:
      case XENMEM.XENMEM_maximum_reservation: {
        const domid = (arg as { domid?: number } | undefined)?.domid ?? DOMID_SELF;
        const d = hv.lookupAnyId(caller, domid);
        if (d === undefined) return -ESRCH;
        if (d !== caller && !caller.isPrivileged) return -EPERM;
        return cmd === XENMEM.XENMEM_current_reservation ? d.physmap.populated : d.physmap.nrPages;
      }
      case XENMEM.XENMEM_add_to_physmap: {
        const a = arg as xen_add_to_physmap;
        if (a === null || typeof a !== "object") return -EFAULT;
        const d = hv.lookupAnyId(caller, a.domid);
        if (d === undefined) return -ESRCH;
        if (xsmTarget(caller, d) !== 0) return -EPERM;
        if (!Number.isInteger(a.gpfn) || a.gpfn < 0) return -EINVAL;
        if (a.space === XENMAPSPACE.XENMAPSPACE_shared_info) {
          if (a.idx !== 0) return -EINVAL;
          // xenmem_add_to_physmap_one: what is at gpfn goes (RAM is freed; a grant mapping gives
          // -ENXIO), then shared_info leaves its old GFN (a hole), then it is added.
          const old = d.sharedInfoGfn;
          if (old === a.gpfn) return 0;
          const rc = removeBeforeXenPage(d.physmap, a.gpfn);
          if (rc !== 0) return rc;
          if (old !== undefined) d.physmap.remove(old);
          if (!d.physmap.insert(a.gpfn, d.sharedInfo, "xen", true)) return -EINVAL;
          return 0;
        }
        if (a.space === XENMAPSPACE.XENMAPSPACE_grant_table) {
          return d.gnttab.addToPhysmap(a.idx, a.gpfn);
        }
        // gmfn_foreign only through the batch form; the rest are not simulated.
        return -EINVAL;
      }
      case XENMEM.XENMEM_add_to_physmap_batch:
        return this.#addToPhysmapBatch(arg as xen_add_to_physmap_batch);
      case XENMEM.XENMEM_remove_from_physmap: {
        const a = arg as xen_remove_from_physmap;
        // A gpfn that is no xen_pfn_t cannot be the bytes of the C struct: a failed copy.
        if (a === null || typeof a !== "object" || !isU64(a.gpfn)) return -EFAULT;
        const d = hv.lookupAnyId(caller, a.domid);
        if (d === undefined) return -ESRCH;
        if (xsmTarget(caller, d) !== 0) return -EPERM;
        return removeFromPhysmap(d.physmap, a.gpfn);
      }
      default:
        return -ENOSYS;
    }
  }

  /**
   * XENMEM_add_to_physmap_batch with XENMAPSPACE_gmfn_foreign: the caller (privileged, or the
   * target's device model) maps frames of `u.foreign_domid` into `domid`'s physmap — what libxc's
   * foreign memory mappings do when building a guest. Per-element result in `errs`:
   * -ESRCH unknown foreign domain, -EPERM refused by XSM, -EINVAL the foreign GFN holds no
   * RAM-like frame (or is the mapping domain itself), -EBUSY the target GFN is already mapped.
   */
  #addToPhysmapBatch(a: xen_add_to_physmap_batch): number {
    const hv = this.#hv;
    const caller = this.#v.domain;
    if (a === null || typeof a !== "object") return -EFAULT;
    if (!Number.isInteger(a.size) || a.size < 0 || a.size > 0xffff) return -EINVAL;
    if (!Array.isArray(a.idxs) || !Array.isArray(a.gpfns) || !Array.isArray(a.errs)) return -EFAULT;
    if (a.idxs.length < a.size || a.gpfns.length < a.size) return -EFAULT;
    const d = hv.lookupAnyId(caller, a.domid);
    if (d === undefined) return -ESRCH;
    if (xsmTarget(caller, d) !== 0) return -EPERM;
    if (a.space !== XENMAPSPACE.XENMAPSPACE_gmfn_foreign) return -EOPNOTSUPP;
    const fd = hv.lookupAnyId(caller, a.u?.foreign_domid);
    for (let i = 0; i < a.size; i++) {
      let rc: number;
      if (fd === undefined || fd.isDying) rc = -ESRCH;
      else if (fd === d) rc = -EINVAL;
      else if (xsmTarget(d, fd) !== 0) rc = -EPERM;
      else {
        const idx = a.idxs[i]!;
        // The foreign domain's own page (RAM, or a Xen page of its): not a hole, nor a page it
        // maps from someone else.
        const frame = fd.physmap.ownFrame(idx);
        if (frame === undefined) rc = -EINVAL;
        else rc = d.physmap.insert(a.gpfns[i]!, frame, "foreign-gmfn", true) ? 0 : -EBUSY;
      }
      a.errs[i] = rc;
    }
    return 0;
  }

  /** HYPERVISOR_xen_version (17): XENVER_version gives 4.17; a cheap way to force an upcall check. */
  xen_version(cmd: number): number {
    const rc = cmd === XENVER.XENVER_version ? XEN_VERSION : cmd === XENVER.XENVER_get_features ? 0 : -ENOSYS;
    return this.#done("xen_version", XENVER_NAMES.get(cmd) ?? "XENVER_unknown", { cmd }, rc);
  }

  /**
   * HYPERVISOR_domctl (36), privileged: XEN_DOMCTL_irq_permission. -EFAULT, -ESRCH (unknown
   * domain), -EPERM (not the control domain), -ENOSYS (other commands), in do_domctl's order.
   */
  domctl(op: xen_domctl): number {
    // do_domctl's order: copy the argument, look the domain up, then the XSM check, then the command.
    let rc: number;
    if (op === null || typeof op !== "object") rc = -EFAULT;
    else if (this.#hv.domainById(op.domain) === undefined) rc = -ESRCH;
    else if (!this.#v.domain.isPrivileged) rc = -EPERM;
    else if (op.cmd === XEN_DOMCTL_irq_permission && op.u?.irq_permission !== undefined) {
      const p = op.u.irq_permission;
      rc = this.#hv.irqPermission(this.#v.domain, op.domain, p.pirq, p.allow_access !== 0);
    } else rc = -ENOSYS;
    return this.#done("domctl", `XEN_DOMCTL_${op?.cmd}`, op, rc);
  }
}
