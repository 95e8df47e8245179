/**
 * The guest's bookkeeping of its bound ports — what Linux keeps per event channel in
 * `events_base.c`: the owning handle, the vCPU it is bound to (`cpu_evtchn_mask`), and why it is
 * masked (`EVT_MASK_REASON_*`). Also the per-port steps of the upcall (`handle_irq_for_port`
 * with the edge or late-EOI ack) and Linux's 2-level unmask (`evtchn_2l_unmask`).
 */
import type { Hypercalls } from "@pvkit/hypervisor-sim";
import { EVTCHNOP, XENVER } from "@pvkit/hypervisor-sim/abi";
import { evtchnBindVcpu, evtchnUnmask } from "../hypercall/evtchn-ops.js";
import { type EventChannel, MASK_REASON, deliverEvent } from "./event-channel.js";
import type { SharedInfoView } from "./shared-info-view.js";
import type { VcpuScanState } from "./two-level-scan.js";

/** One bound port. */
export interface PortRecord {
  readonly channel: EventChannel;
  /** The vCPU whose upcall handles it. */
  vcpu: number;
  /** MASK_REASON bits; the port is unmasked when this drops to 0. */
  reasons: number;
}

/** Where the calling code runs. */
export interface VcpuContext {
  /** The vCPU the calling code runs on (the upcall's vCPU inside an upcall). */
  current(): number;
  /** Whether vCPU `v` is inside its upcall right now. */
  inUpcall(v: number): boolean;
  /** Hypercalls issued from vCPU `v`. */
  hypercalls(v: number): Hypercalls;
}

export class PortBindings {
  readonly #sh: SharedInfoView;
  readonly #scan: readonly VcpuScanState[];
  readonly #ctx: VcpuContext;
  readonly #ports = new Map<number, PortRecord>();

  constructor(sh: SharedInfoView, scan: readonly VcpuScanState[], ctx: VcpuContext) {
    this.#sh = sh;
    this.#scan = scan;
    this.#ctx = ctx;
  }

  get(port: number): PortRecord | undefined {
    return this.#ports.get(port);
  }

  /** Every bound port, in bind order. */
  records(): PortRecord[] {
    return [...this.#ports.values()];
  }

  /**
   * Records a port Xen just bound, masked, on `vcpu`. A record left from a port Xen freed behind
   * our back (EVTCHNOP_reset) is detached first: its handle closes without touching Xen.
   */
  add(port: number, channel: EventChannel, vcpu: number): PortRecord {
    this.#sh.setMask(port);
    const stale = this.#ports.get(port);
    if (stale !== undefined) {
      this.#forget(port, stale);
      stale.channel.close();
    }
    const rec: PortRecord = { channel, vcpu, reasons: 0 };
    this.#ports.set(port, rec);
    this.#scan[vcpu]!.add(port);
    return rec;
  }

  addMaskReason(port: number, reason: number): void {
    const r = this.#ports.get(port);
    if (r === undefined) return;
    r.reasons |= reason;
    this.#sh.setMask(port);
  }

  clearMaskReason(port: number, reason: number): void {
    const r = this.#ports.get(port);
    if (r === undefined || (r.reasons & reason) === 0) return;
    r.reasons &= ~reason;
    if (r.reasons === 0) this.unmask(port, r);
  }

  /**
   * Linux's `evtchn_2l_unmask`. On the port's own vCPU: clear the mask bit, then if the port is
   * pending set the selector bit and upcall_pending (the local "resend"), and outside the upcall
   * make Xen look with a cheap hypercall. On another vCPU: EVTCHNOP_unmask, with the mask bit
   * left set, because Xen re-raises only if the bit was set (xen-abi.md §2.3).
   */
  unmask(port: number, rec: PortRecord): void {
    const cur = this.#ctx.current();
    if (rec.vcpu !== cur) {
      evtchnUnmask(this.#ctx.hypercalls(cur), port);
      return;
    }
    const sh = this.#sh;
    sh.clearMask(port); // before testing pending: a raise in between is then not lost
    if (sh.isPending(port) && !sh.setSelectorBit(cur, port >>> 6)) {
      sh.setUpcallPending(cur, 1);
      // Inside this vCPU's upcall the handler loop sees upcall_pending; outside, ask Xen.
      if (!this.#ctx.inUpcall(cur)) this.#ctx.hypercalls(cur).xen_version(XENVER.XENVER_version);
    }
  }

  /**
   * Linux's `xen_rebind_evtchn_to_cpu`: mask, EVTCHNOP_bind_vcpu, move the bookkeeping, unmask.
   * On the new vCPU the unmask re-raises an event still pending. @throws XenError from Xen.
   */
  moveToVcpu(port: number, vcpu: number): void {
    const r = this.#ports.get(port);
    if (r === undefined) return;
    const tmp = MASK_REASON.temporary;
    r.reasons |= tmp;
    this.#sh.setMask(port);
    try {
      evtchnBindVcpu(this.#ctx.hypercalls(this.#ctx.current()), port, vcpu);
      this.#scan[r.vcpu]!.remove(port);
      this.#scan[vcpu]!.add(port);
      r.vcpu = vcpu;
    } finally {
      r.reasons &= ~tmp;
      if (r.reasons === 0) this.unmask(port, r);
    }
  }

  /** Masks and forgets the port, then EVTCHNOP_close (an interdomain peer goes UNBOUND). */
  release(port: number): void {
    const r = this.#ports.get(port);
    if (r === undefined) return;
    this.#forget(port, r);
    // After the domain is destroyed its page is gone and Xen has closed every port already.
    if (!this.#sh.alive) return;
    this.#sh.setMask(port);
    // -EINVAL means Xen no longer has the port (EVTCHNOP_reset, domain teardown): nothing to free.
    this.#ctx.hypercalls(this.#ctx.current()).event_channel_op(EVTCHNOP.EVTCHNOP_close, { port });
  }

  /**
   * `handle_irq_for_port` on `cpu`: an ordinary port has its pending bit cleared before the
   * handler runs (a send during the handler is a new event); a late-EOI port is masked first
   * and stays masked until `eoi()`.
   */
  handle(cpu: number, port: number): void {
    const r = this.#ports.get(port);
    const sh = this.#sh;
    // The scan works on a snapshot: skip a port taken, masked or closed since.
    if (r === undefined || r.vcpu !== cpu || !sh.isPending(port) || sh.isMasked(port)) return;
    if (r.channel.lateEoi) {
      r.reasons |= MASK_REASON.eoiPending;
      sh.setMask(port); // masked before the ack, so a flood cannot raise it again until eoi()
    }
    sh.clearPending(port);
    deliverEvent(r.channel, cpu);
  }

  #forget(port: number, rec: PortRecord): void {
    this.#ports.delete(port);
    const st = this.#scan[rec.vcpu]!;
    st.remove(port);
    if (st.timerPort === port) st.timerPort = 0;
  }
}
