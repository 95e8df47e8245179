/**
 * A simulated interrupt controller for physical IRQs. Tests raise a line with `raise(irq)`; every
 * domain that bound the matching PIRQ (`EVTCHNOP_bind_pirq`) gets its port set pending.
 * PIRQ numbers equal IRQ numbers (identity mapping, as dom0 has for GSIs).
 */
import { XEN_ERRNO } from "../abi/errno.js";
import type { Domain } from "../domain/domain.js";

/** Xen's default `irq-max-guests`: how many domains may share one line. */
export const IRQ_MAX_GUESTS = 32;

interface Line {
  /** Domains bound to the line, in bind order. */
  readonly guests: Domain[];
  /** Whether every binder asked for BIND_PIRQ__WILL_SHARE. */
  shareable: boolean;
  /** Raises so far. */
  count: number;
  /** Affinity (notify vCPU) per domain, for inspection. */
  readonly affinity: Map<number, number>;
}

/**
 * What the public API shows of the interrupt controller (`Hypervisor.irq`): assert a line, and
 * see where a domain's PIRQ is steered. Binding happens through EVTCHNOP_bind_pirq only.
 */
export interface PhysicalIrqs {
  /** Asserts physical IRQ `irq`: each bound guest's PIRQ port is set pending. Returns guests hit. */
  raise(irq: number): number;
  /** The vCPU domain `d`'s PIRQ `irq` is steered to (EVTCHNOP_bind_vcpu), if bound. */
  affinity(d: { readonly domid: number }, irq: number): number | undefined;
}

/** How the controller delivers a PIRQ to a guest (the Hypervisor's `send_guest_pirq`). */
export type PirqSink = (d: Domain, pirq: number) => void;

export class InterruptController implements PhysicalIrqs {
  readonly #lines = new Map<number, Line>();
  readonly #sink: PirqSink;

  constructor(sink: PirqSink) {
    this.#sink = sink;
  }

  /**
   * `pirq_guest_bind()`: -EBUSY when the line is bound and either side did not ask to share, or
   * when IRQ_MAX_GUESTS domains already share it.
   */
  guestBind(d: Domain, irq: number, willShare: boolean): number {
    let line = this.#lines.get(irq);
    if (line !== undefined && line.guests.length > 0) {
      if (!willShare || !line.shareable) return -XEN_ERRNO.EBUSY;
      if (line.guests.length >= IRQ_MAX_GUESTS) return -XEN_ERRNO.EBUSY;
    }
    if (line === undefined) {
      line = { guests: [], shareable: willShare, count: 0, affinity: new Map() };
      this.#lines.set(irq, line);
    }
    if (line.guests.length === 0) line.shareable = willShare;
    line.guests.push(d);
    line.affinity.set(d.domid, 0);
    return 0;
  }

  /** `pirq_guest_unbind()`. */
  guestUnbind(d: Domain, irq: number): void {
    const line = this.#lines.get(irq);
    if (line === undefined) return;
    const i = line.guests.indexOf(d);
    if (i >= 0) line.guests.splice(i, 1);
    line.affinity.delete(d.domid);
  }

  /** Records the notify vCPU a domain moved its PIRQ to (IRQ affinity). */
  setAffinity(d: Domain, irq: number, vcpu: number): void {
    this.#lines.get(irq)?.affinity.set(d.domid, vcpu);
  }

  /** The vCPU a domain's PIRQ is steered to, if bound. */
  affinity(d: { readonly domid: number }, irq: number): number | undefined {
    return this.#lines.get(irq)?.affinity.get(d.domid);
  }

  /** Asserts physical IRQ `irq`: each bound guest's PIRQ port is set pending. Returns guests hit. */
  raise(irq: number): number {
    const line = this.#lines.get(irq);
    if (line === undefined) return 0;
    line.count++;
    const guests = line.guests.slice();
    for (const d of guests) this.#sink(d, irq);
    return guests.length;
  }
}
