/**
 * The guest's bookkeeping of its bound ports — what Linux keeps per event channel in
 * `events_base.c`: the owning handle, the vCPU it is bound to (`cpu_evtchn_mask`), and why it is
 * masked (`EVT_MASK_REASON_*`). Also the per-port steps of the upcall (`handle_irq_for_port`
 * with the edge or late-EOI ack). The event bits themselves are the ABI's (`event-abi.ts`), so
 * the same rules hold under 2-level and FIFO.
 */
import { EVTCHNOP } from "@pvkit/hypervisor-sim/abi";
import { evtchnBindVcpu } from "../hypercall/evtchn-ops.js";
import type { EventAbi, VcpuContext } from "./event-abi.js";
import { type EventChannel, MASK_REASON, deliverEvent } from "./event-channel.js";

/** One bound port. */
export interface PortRecord {
  readonly channel: EventChannel;
  /** The vCPU whose upcall handles it. */
  vcpu: number;
  /** MASK_REASON bits; the port is unmasked when this drops to 0. */
  reasons: number;
}

/** The bound ports of one guest and their mask reasons, over one event ABI. @internal */
export class PortBindings {
  readonly #abi: EventAbi;
  readonly #ctx: VcpuContext;
  /** 2-level: the upcall handles only ports bound to its vCPU (the scan works on a snapshot). */
  readonly #ownVcpuOnly: boolean;
  readonly #ports = new Map<number, PortRecord>();

  constructor(abi: EventAbi, ctx: VcpuContext) {
    this.#abi = abi;
    this.#ctx = ctx;
    // FIFO: a port moved while linked is consumed from the queue it was linked on, as in Linux.
    this.#ownVcpuOnly = abi.name === "2l";
  }

  /** The record of `port`, if bound here. */
  get(port: number): PortRecord | undefined {
    return this.#ports.get(port);
  }

  /** Every bound port, in bind order. */
  records(): PortRecord[] {
    return [...this.#ports.values()];
  }

  /**
   * Records a port Xen just bound, masked, on `vcpu`, after the ABI prepared it (FIFO: its
   * event-array page). A record left from a port Xen freed behind our back (EVTCHNOP_reset) is
   * detached first: its handle closes without touching Xen.
   * @throws what `EventAbi.setupPort` throws, before anything is recorded.
   */
  add(port: number, channel: EventChannel, vcpu: number): PortRecord {
    this.#abi.setupPort(port);
    this.#abi.mask(port);
    const stale = this.#ports.get(port);
    if (stale !== undefined) {
      this.#forget(port, stale);
      stale.channel.close();
    }
    const rec: PortRecord = { channel, vcpu, reasons: 0 };
    this.#ports.set(port, rec);
    this.#abi.addPort(port, vcpu);
    return rec;
  }

  /** Adds a mask reason and masks the port. */
  addMaskReason(port: number, reason: number): void {
    const r = this.#ports.get(port);
    if (r === undefined) return;
    r.reasons |= reason;
    this.#abi.mask(port);
  }

  /** Drops a mask reason; the port is unmasked when none is left. */
  clearMaskReason(port: number, reason: number): void {
    const r = this.#ports.get(port);
    if (r === undefined || (r.reasons & reason) === 0) return;
    r.reasons &= ~reason;
    if (r.reasons === 0) this.unmask(port, r);
  }

  /** The ABI's unmask of a bound port (2-level: local or EVTCHNOP_unmask; FIFO: see `fifo-abi.ts`). */
  unmask(port: number, rec: PortRecord): void {
    this.#abi.unmask(port, rec.vcpu);
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
    this.#abi.mask(port);
    try {
      evtchnBindVcpu(this.#ctx.hypercalls(this.#ctx.current()), port, vcpu);
      this.#abi.removePort(port, r.vcpu);
      this.#abi.addPort(port, vcpu);
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
    if (!this.#abi.alive) return;
    this.#abi.mask(port);
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
    const abi = this.#abi;
    // The ABI reports from a snapshot: skip a port taken, masked or closed since.
    if (
      r === undefined ||
      (r.vcpu !== cpu && this.#ownVcpuOnly) ||
      !abi.isPending(port) ||
      abi.isMasked(port)
    )
      return;
    if (r.channel.lateEoi) {
      r.reasons |= MASK_REASON.eoiPending;
      abi.mask(port); // masked before the ack, so a flood cannot raise it again until eoi()
    }
    abi.clearPending(port);
    deliverEvent(r.channel, cpu);
  }

  #forget(port: number, rec: PortRecord): void {
    this.#ports.delete(port);
    this.#abi.removePort(port, rec.vcpu);
  }
}
