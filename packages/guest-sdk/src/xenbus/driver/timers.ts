/**
 * Driver timeouts in virtual time, as a guest kernel has them: one single-shot timer per vCPU
 * (`HYPERVISOR_set_timer_op`, an absolute system time) whose expiry raises VIRQ_TIMER, shared by
 * every timeout the guest's drivers arm (Linux's clockevents over `xen_timerop_set_next_event`).
 *
 * The VIRQ_TIMER port is bound while a timeout is pending and closed when none is, so an idle
 * guest holds no port for it (leak checks see none). Times come from {@link GuestClock}.
 */
import type { Guest } from "@pvkit/hypervisor-sim";
import { VIRQ } from "@pvkit/hypervisor-sim/abi";
import type { EventChannel } from "../../events/event-channel.js";
import { EventChannels } from "../../events/event-channels.js";
import { GuestClock } from "../../time/guest-clock.js";

/** A pending timeout; `cancel()` is idempotent. */
export interface TimeoutHandle {
  cancel(): void;
}

/** What the framework needs for its timeouts (Closing → Closed waits). */
export interface DriverTimers {
  /** Virtual ns now (the guest's system time). */
  now(): number;
  /** Calls `fn` once, `ns` virtual nanoseconds from now, unless cancelled first. */
  after(ns: number, fn: () => void): TimeoutHandle;
}

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * The timeouts of one guest over vCPU 0's single-shot timer and VIRQ_TIMER. One per guest
 * ({@link GuestTimers.of}); a guest that binds VIRQ_TIMER for itself must pass its own
 * {@link DriverTimers} to the framework instead.
 */
export class GuestTimers implements DriverTimers {
  static readonly #registry = new WeakMap<Guest, GuestTimers>();

  /** The timers of `guest` (its event channels from `events`), created on first use. */
  static of(guest: Guest, events: EventChannels = EventChannels.of(guest)): GuestTimers {
    let t = GuestTimers.#registry.get(guest);
    if (t === undefined) {
      t = new GuestTimers(guest, events);
      GuestTimers.#registry.set(guest, t);
    }
    return t;
  }

  readonly #guest: Guest;
  readonly #events: EventChannels;
  readonly #clock: GuestClock;
  #entries: Entry[] = [];
  #port: EventChannel | undefined;
  #armedAt = 0;
  #seq = 0;

  private constructor(guest: Guest, events: EventChannels) {
    this.#guest = guest;
    this.#events = events;
    this.#clock = GuestClock.of(guest, events);
  }

  /** Timeouts pending. */
  get pending(): number {
    return this.#entries.length;
  }

  now(): number {
    return this.#clock.now();
  }

  /** @throws RangeError for a negative or non-finite `ns`. */
  after(ns: number, fn: () => void): TimeoutHandle {
    if (!(ns >= 0) || !Number.isFinite(ns))
      throw new RangeError(`timeout must be a finite count of ns >= 0, got ${ns}`);
    const e: Entry = { at: this.now() + ns, seq: this.#seq++, fn, cancelled: false };
    this.#entries.push(e);
    this.#entries.sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.#arm();
    return {
      cancel: () => {
        if (e.cancelled) return;
        e.cancelled = true;
        this.#entries = this.#entries.filter((x) => x !== e);
        this.#arm();
      },
    };
  }

  /** Programs the timer for the earliest entry, or stops it and unbinds when there is none. */
  #arm(): void {
    const first = this.#entries[0];
    if (first === undefined) {
      if (this.#port !== undefined) {
        this.#guest.hypercall.set_timer_op(0);
        this.#port.close();
        this.#port = undefined;
        this.#armedAt = 0;
      }
      return;
    }
    this.#port ??= this.#events.bindVirq(VIRQ.VIRQ_TIMER, 0, { onEvent: () => this.#expire() });
    // set_timer_op takes an absolute time; 0 means "stop", so never pass it.
    const at = Math.max(1, first.at);
    if (at !== this.#armedAt) {
      this.#armedAt = at;
      this.#guest.hypercall.set_timer_op(at);
    }
  }

  #expire(): void {
    this.#armedAt = 0;
    const now = this.now();
    const due: Entry[] = [];
    while (this.#entries[0] !== undefined && this.#entries[0].at <= now)
      due.push(this.#entries.shift()!);
    this.#arm();
    for (const e of due) {
      e.cancelled = true;
      e.fn();
    }
  }
}
