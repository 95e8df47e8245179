/**
 * Every trace event the hypervisor emits, in one place. Each carries `t`, the virtual time in
 * nanoseconds, and `seq`, a per-hypervisor sequence number that orders events at equal times.
 */
import { EventEmitter } from "eventemitter3";

export interface TraceBase {
  /** Virtual time, ns since boot. */
  t: number;
  /** Monotonic sequence number across all trace events of one Hypervisor. */
  seq: number;
}

/** A hypercall with its arguments (as passed, output fields included) and its result. */
export interface HypercallTrace extends TraceBase {
  domid: number;
  vcpu: number;
  /** e.g. "event_channel_op", "grant_table_op". */
  hypercall: string;
  /** The sub-command name, e.g. "EVTCHNOP_send". */
  cmd: string;
  /** A snapshot of the argument(s) after the call, output fields included. */
  args: unknown;
  /** 0 or a negative Xen errno. */
  result: number;
}

/** An event channel port set pending (`evtchn_2l_set_pending` or `evtchn_fifo_set_pending`). */
export interface RaiseTrace extends TraceBase {
  domid: number;
  port: number;
  vcpu: number;
  /**
   * What the raise did. 2-level: "coalesced" (already pending), "masked", "selector" (sel bit
   * was set already), "upcall" (upcall_pending 0→1). FIFO: "no-page" (remembered until
   * expand_array adds the page), "dropped" (no control block), "masked", "coalesced" (already
   * LINKED), "queued" (linked behind the tail), "ready" (written as head; ready bit or
   * upcall_pending already set), "upcall" (ready bit and upcall_pending 0→1).
   */
  outcome:
    | "coalesced"
    | "masked"
    | "selector"
    | "upcall"
    | "no-page"
    | "dropped"
    | "queued"
    | "ready";
}

/** An upcall delivered to a vCPU's registered callback. */
export interface UpcallTrace extends TraceBase {
  domid: number;
  vcpu: number;
}

/** Domain lifecycle changes. */
export interface DomainTrace extends TraceBase {
  domid: number;
  what: "created" | "paused" | "unpaused" | "dying" | "destroyed" | "shutdown";
  reason?: number;
}

/** A vCPU's one-shot timer fired. */
export interface TimerTrace extends TraceBase {
  domid: number;
  vcpu: number;
}

/** Typed event map for `Hypervisor.trace`. */
export interface TraceEvents {
  hypercall: (e: HypercallTrace) => void;
  raise: (e: RaiseTrace) => void;
  upcall: (e: UpcallTrace) => void;
  domain: (e: DomainTrace) => void;
  timer: (e: TimerTrace) => void;
}
export type TraceEventName = keyof TraceEvents;

/**
 * The trace bus: a typed eventemitter3 emitter. Producers check `enabled.<name>` before
 * building an event, so tracing costs nothing while nobody listens.
 */
export class TraceBus extends EventEmitter<TraceEvents> {
  /**
   * Whether anyone listens, per event: plain fields, read on every hypercall and raise, so a
   * producer pays one property load while tracing is off.
   */
  readonly enabled: Record<TraceEventName, boolean> = {
    hypercall: false,
    raise: false,
    upcall: false,
    domain: false,
    timer: false,
  };

  /** Whether anyone listens to `name`. */
  active(name: TraceEventName): boolean {
    return this.enabled[name];
  }

  #refresh(): void {
    const e = this.enabled;
    e.hypercall = this.listenerCount("hypercall") > 0;
    e.raise = this.listenerCount("raise") > 0;
    e.upcall = this.listenerCount("upcall") > 0;
    e.domain = this.listenerCount("domain") > 0;
    e.timer = this.listenerCount("timer") > 0;
  }

  // The overrides only add the refresh of the `active` flags; callers still see eventemitter3's
  // typed signatures, which these (looser) ones are assignable to.
  // biome-ignore-start lint/suspicious/noExplicitAny: eventemitter3's own overload signatures
  override on<T extends TraceEventName>(
    event: T,
    fn: EventEmitter.EventListener<TraceEvents, T>,
    context?: any,
  ): this;
  override on(event: any, fn: any, context?: any): this {
    super.on(event, fn, context);
    this.#refresh();
    return this;
  }
  override addListener<T extends TraceEventName>(
    event: T,
    fn: EventEmitter.EventListener<TraceEvents, T>,
    context?: any,
  ): this;
  override addListener(event: any, fn: any, context?: any): this {
    return this.on(event, fn, context);
  }
  override once<T extends TraceEventName>(
    event: T,
    fn: EventEmitter.EventListener<TraceEvents, T>,
    context?: any,
  ): this;
  override once(event: any, fn: any, context?: any): this {
    super.once(event, fn, context);
    this.#refresh();
    return this;
  }
  override off<T extends TraceEventName>(
    event: T,
    fn?: EventEmitter.EventListener<TraceEvents, T>,
    context?: any,
    once?: boolean,
  ): this;
  override off(event: any, fn?: any, context?: any, once?: boolean): this {
    super.off(event, fn, context, once);
    this.#refresh();
    return this;
  }
  override removeListener<T extends TraceEventName>(
    event: T,
    fn?: EventEmitter.EventListener<TraceEvents, T>,
    context?: any,
    once?: boolean,
  ): this;
  override removeListener(event: any, fn?: any, context?: any, once?: boolean): this {
    return this.off(event, fn, context, once);
  }
  // biome-ignore-end lint/suspicious/noExplicitAny: -
  override removeAllListeners(event?: TraceEventName): this {
    super.removeAllListeners(event);
    this.#refresh();
    return this;
  }
}
