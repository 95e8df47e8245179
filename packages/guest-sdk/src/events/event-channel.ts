/**
 * One bound event channel of a guest: the SDK's `EventChannel` handle (what Linux keeps as an
 * IRQ bound to a port). Created by `EventChannels` (`bindInterdomain`, `bindVirq`, ...).
 *
 * Delivery is edge-triggered and coalescing, as in Xen: several sends before the guest handles
 * the port give one event. `count` counts delivered events; `waitFor(n)` resolves once
 * `count > n`, so reading `count` and then waiting can never miss an event that arrived in
 * between. With `lateEoi` the port stays masked after each event until the handler calls
 * `eoi()` (Linux's lateeoi IRQs, XSA-332/XSA-391): a peer that floods the port gets at most one
 * event per EOI.
 */
import type { Observable, Subscriber } from "rxjs";
import type { Hypercalls } from "@pvkit/hypervisor-sim";
import { ClosedError } from "@pvkit/hypervisor-sim";
import { ReportingObservable } from "./reporting-observable.js";
import {
  type EvtchnStatus,
  evtchnSend,
  evtchnSetPriority,
  evtchnStatus,
} from "../hypercall/evtchn-ops.js";

/** How a channel was bound. */
export type EventChannelKind = "unbound" | "interdomain" | "virq" | "ipi" | "pirq" | "adopted";

/** One delivered event. */
export interface ChannelEvent {
  /** The local port. */
  readonly port: number;
  /** The vCPU whose upcall handled it. */
  readonly vcpu: number;
  /** The channel's `count` after this event (1 for the first). */
  readonly count: number;
}

/** A per-event callback; it runs inside the upcall, with event delivery masked on that vCPU. */
export type ChannelHandler = (event: ChannelEvent, channel: EventChannel) => void;

/** Options common to every bind. */
export interface ChannelOptions {
  /**
   * Late EOI: after each event the port stays masked until `eoi()` is called (by the handler,
   * now or later). Default false (the port is re-armed as soon as the event is taken).
   */
  lateEoi?: boolean;
  /**
   * Called for each event, inside the upcall. A throw is caught and reported on
   * `EventChannels.errors$`; other ports keep being serviced.
   */
  onEvent?: ChannelHandler;
}

/** Why a port is masked (Linux's EVT_MASK_REASON_*); the port is unmasked when none is left. */
export const MASK_REASON = {
  /** `mask()` by the owner. */
  explicit: 1,
  /** A late-EOI event is being handled: waiting for `eoi()`. */
  eoiPending: 2,
  /** Briefly, while the channel moves to another vCPU. */
  temporary: 4,
} as const;

/** What a channel needs from the event subsystem that owns it. @internal */
export interface ChannelHost {
  /** The hypercall surface of the vCPU the calling code runs on. */
  hypercalls(): Hypercalls;
  addMaskReason(port: number, reason: number): void;
  clearMaskReason(port: number, reason: number): void;
  maskReasons(port: number): number;
  vcpuOf(port: number): number;
  /** EVTCHNOP_bind_vcpu with the local bookkeeping; throws XenError. */
  moveToVcpu(port: number, vcpu: number): void;
  /** Forgets the port and closes it in Xen. */
  release(port: number): void;
  reportError(port: number, vcpu: number, error: unknown): void;
}

interface Waiter {
  newerThan: number;
  resolve: (count: number) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Options of `waitFor`. */
export interface WaitOptions {
  /** Abandons the wait: the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

let deliver: (ch: EventChannel, vcpu: number) => void;
let make: (
  host: ChannelHost,
  port: number,
  kind: EventChannelKind,
  opts: ChannelOptions,
) => EventChannel;

/** @internal `EventChannels` makes the handle of a port it bound (the constructor is private). */
export function newEventChannel(
  host: ChannelHost,
  port: number,
  kind: EventChannelKind,
  opts: ChannelOptions = {},
): EventChannel {
  return make(host, port, kind, opts);
}

/** @internal The upcall handler hands an event to its channel. */
export function deliverEvent(ch: EventChannel, vcpu: number): void {
  deliver(ch, vcpu);
}

/**
 * A bound event-channel port of this guest (`event_channel.h`), as Linux keeps an IRQ bound to
 * a port. Made by `EventChannels`; not constructed directly. Counts delivered events (`count`,
 * `waitFor`, `events$`), sends with EVTCHNOP_send, masks locally, and closes with
 * EVTCHNOP_close. Operations after `close()` throw ClosedError; hypercall failures throw
 * XenError.
 */
export class EventChannel implements Disposable {
  readonly #host: ChannelHost;
  readonly #port: number;
  readonly #kind: EventChannelKind;
  readonly #lateEoi: boolean;
  #handler: ChannelHandler | undefined;
  #closed = false;
  /** The vCPU whose upcall is emitting on `events$` now, if one is. */
  #delivering: number | undefined;
  #count = 0;
  readonly #listeners = new Set<Subscriber<ChannelEvent>>();
  #waiters: Waiter[] = [];

  static {
    deliver = (ch, vcpu) => ch.#deliver(vcpu);
    make = (host, port, kind, opts) => new EventChannel(host, port, kind, opts);
  }

  /** Use `EventChannels` to bind channels (private: the published .d.ts has no `new EventChannel()`). */
  private constructor(
    host: ChannelHost,
    port: number,
    kind: EventChannelKind,
    opts: ChannelOptions = {},
  ) {
    this.#host = host;
    this.#port = port;
    this.#kind = kind;
    this.#lateEoi = opts.lateEoi ?? false;
    this.#handler = opts.onEvent;
  }

  /** The local port number (valid until `close()`). */
  get port(): number {
    return this.#port;
  }

  /** How the channel was bound. `status()` tells what Xen says it is now. */
  get kind(): EventChannelKind {
    return this.#kind;
  }

  /** Whether events stay masked after delivery until `eoi()`. */
  get lateEoi(): boolean {
    return this.#lateEoi;
  }

  /** The vCPU whose upcall handles this port. */
  get vcpu(): number {
    return this.#host.vcpuOf(this.#port);
  }

  /** Events delivered so far (monotonic; several sends may coalesce into one event). */
  get count(): number {
    return this.#count;
  }

  /** Whether the channel was closed (by `close()` or `EventChannels.close()`); the port is then closed in Xen. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the port is masked for any reason (explicit mask, late EOI, move). */
  get masked(): boolean {
    return !this.#closed && this.#host.maskReasons(this.#port) !== 0;
  }

  /** Whether a late-EOI event was delivered and `eoi()` has not been called yet. */
  get eoiPending(): boolean {
    return !this.#closed && (this.#host.maskReasons(this.#port) & MASK_REASON.eoiPending) !== 0;
  }

  /** Replaces the per-event callback (see `ChannelOptions.onEvent`); undefined removes it. */
  setHandler(handler: ChannelHandler | undefined): void {
    this.#handler = handler;
  }

  /**
   * Each delivered event, while subscribed. Cold: subscribing registers a listener and
   * unsubscribing removes it; the channel stays bound either way. Completes when the channel is
   * closed. Emissions happen inside the upcall. What a subscriber throws (or an error no
   * subscriber handles, from an operator in a piped chain) is reported at once, like an
   * `onEvent` handler's, to `EventChannels.errors$` — not rethrown by rxjs on a real timer
   * later — and the other subscribers and ports are still served.
   */
  readonly events$: Observable<ChannelEvent> = new ReportingObservable<ChannelEvent>(
    (subscriber) => {
      if (this.#closed) {
        subscriber.complete();
        return undefined;
      }
      this.#listeners.add(subscriber);
      return () => {
        this.#listeners.delete(subscriber);
      };
    },
    (err) =>
      this.#host.reportError(this.#port, this.#delivering ?? this.#host.vcpuOf(this.#port), err),
  );

  /**
   * EVTCHNOP_send: notifies the peer (interdomain), or this port's own vCPU (IPI). On a port
   * still unbound Xen drops the notification.
   * @throws ClosedError after close(); XenError EINVAL for VIRQ and PIRQ ports.
   */
  notify(): void {
    this.#live("notify");
    evtchnSend(this.#host.hypercalls(), this.#port);
  }

  /** Masks the port: events are held (pending) until `unmask()`. Local, no hypercall. */
  mask(): void {
    this.#live("mask");
    this.#host.addMaskReason(this.#port, MASK_REASON.explicit);
  }

  /**
   * Undoes `mask()`. If the port became pending meanwhile, the event is delivered (as Linux's
   * local unmask does: selector bit, upcall_pending, then a hypercall so Xen re-checks). A port
   * still waiting for `eoi()` stays masked until then.
   */
  unmask(): void {
    this.#live("unmask");
    this.#host.clearMaskReason(this.#port, MASK_REASON.explicit);
  }

  /**
   * Ends a late-EOI event: re-arms the port; if it was raised again meanwhile, one new event
   * follows. A no-op when no EOI is outstanding.
   * @throws ClosedError after close().
   */
  eoi(): void {
    this.#live("eoi");
    this.#host.clearMaskReason(this.#port, MASK_REASON.eoiPending);
  }

  /**
   * EVTCHNOP_bind_vcpu: future events are handled by `vcpu`'s upcall.
   * @throws XenError ENOENT (no such vCPU), EINVAL (IPI and per-vCPU VIRQ ports cannot move).
   */
  bindToVcpu(vcpu: number): void {
    this.#live("bindToVcpu");
    this.#host.moveToVcpu(this.#port, vcpu);
  }

  /**
   * EVTCHNOP_set_priority: under the FIFO ABI, the queue this port's events go to from its next
   * raise, 0 (highest) .. 15 (lowest); every bind starts at 7. An event already queued keeps
   * its place.
   * @throws ClosedError after close(); XenError ENOSYS on the 2-level ABI (as Xen
   * answers), EINVAL for a priority above 15.
   */
  setPriority(priority: number): void {
    this.#live("setPriority");
    evtchnSetPriority(this.#host.hypercalls(), this.#port, priority);
  }

  /** EVTCHNOP_status of this port. @throws ClosedError after close(). */
  status(): EvtchnStatus {
    this.#live("status");
    return evtchnStatus(this.#host.hypercalls(), this.#port);
  }

  /**
   * Resolves with `count` as soon as `count > newerThan` — at once if that already holds. Read
   * `count`, do the work that provokes the peer, then `waitFor(thatCount)`: an event delivered
   * at any point after the read is seen. Rejects with ClosedError if the channel is closed
   * first, or with the signal's reason if aborted.
   */
  waitFor(newerThan: number, opts: WaitOptions = {}): Promise<number> {
    if (this.#count > newerThan) return Promise.resolve(this.#count);
    if (this.#closed)
      return Promise.reject(new ClosedError(`event channel port ${this.#port}`, "waitFor"));
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<number>((resolve, reject) => {
      const w: Waiter = { newerThan, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        w.onAbort = () => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          reject(signal.reason);
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.#waiters.push(w);
    });
  }

  /** The next event after now: `waitFor(count)`. */
  nextEvent(opts: WaitOptions = {}): Promise<number> {
    return this.waitFor(this.#count, opts);
  }

  /**
   * Unbinds: masks the port, forgets it and closes it in Xen (an interdomain peer goes back to
   * UNBOUND). Completes `events$` and rejects pending waits. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#host.release(this.#port);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
      w.reject(new ClosedError(`event channel port ${this.#port}`, "waitFor"));
    }
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const l of listeners) l.complete();
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #live(op: string): void {
    if (this.#closed) throw new ClosedError(`event channel port ${this.#port}`, op);
  }

  #deliver(vcpu: number): void {
    if (this.#closed) return;
    const count = ++this.#count;
    if (this.#waiters.length > 0) {
      const keep: Waiter[] = [];
      for (const w of this.#waiters) {
        if (count > w.newerThan) {
          if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
          w.resolve(count);
        } else keep.push(w);
      }
      this.#waiters = keep;
    }
    const ev: ChannelEvent = { port: this.#port, vcpu, count };
    const outer = this.#delivering;
    this.#delivering = vcpu;
    try {
      for (const l of this.#listeners) l.next(ev);
    } finally {
      this.#delivering = outer;
    }
    const h = this.#handler;
    if (h !== undefined) {
      try {
        h(ev, this);
      } catch (err) {
        this.#host.reportError(this.#port, vcpu, err);
      }
    }
  }
}
