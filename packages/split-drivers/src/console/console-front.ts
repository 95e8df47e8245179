/**
 * The PV console frontend for console 0, what Linux's `hvc_xen` (drivers/tty/hvc/hvc_xen.c)
 * does for a PV guest: the ring page and event channel come from `start_info`
 * (`console.domU.mfn` / `console.domU.evtchn`; the domain builder already granted the page to
 * the console backend as reserved grant ref 0, `GNTTAB_RESERVED_CONSOLE`, and allocated the port).
 *
 * ```
 *  guest                     ring page (struct xencons_interface, io/console.h)      xenconsoled
 *  write() ──> pending ──> out[2048]  out_cons / out_prod ──> notify ──> log, pty, stdout
 *  input$ / stream  <──────  in[1024]   in_cons  / in_prod  <── typed on the pty (<= 80 B a read)
 * ```
 *
 * Output (`__write_console`): read `out_cons`/`out_prod`, refuse a ring with `prod - cons > 2048`,
 * copy what fits, publish `out_prod`, notify. Input (`domU_read_console`): refuse
 * `prod - cons > 1024`, copy, publish `in_cons`, notify when something was read.
 *
 * **Output policy (never blocks the guest forever).** hvc_xen spins on SCHEDOP_yield until a
 * stalled backend makes room; this frontend does not:
 * - `tryWrite()` copies what fits now and returns the count (0 on a full ring); it never waits.
 * - `write()` resolves once all its bytes are in the ring. Bytes that do not fit wait in a
 *   pending queue, in order, and go out as the backend consumes and notifies. The queue is
 *   bounded by `maxPendingBytes` (default 16 KiB): a write that would exceed it is rejected at
 *   once with ConsoleError "output-full" (nothing of it is queued), so a guest logging against
 *   a dead backend sees errors, not a hang. A `signal` abandons one write (its unsent bytes
 *   leave the queue). `destroy()` and a halt reject every pending write.
 * - The Duplex stream (`stream()`) writes chunk by chunk through `write()`, so its
 *   highWaterMark gives ordinary Node backpressure.
 *
 * **Input flow control.** Input is taken from the ring only while someone wants it: an `input$`
 * subscriber, or a stream whose reader has not pushed back. Otherwise the bytes stay in `in`,
 * the ring fills, and the backend stops reading its terminal — the backpressure a real tty has.
 *
 * **Hardening (io/console.h, XSA-391).** Corrupt indices from the backend halt the console with
 * a ConsoleError "ring-index" carrying the values: nothing more is read or written, pending
 * writes are rejected, `input$` errors, the stream is destroyed, and the port stays masked (a
 * hostile backend's events cost nothing). Events that bring neither input nor output progress
 * are counted as spurious (`stats.spuriousEvents`), as hvc_xen marks them for lateeoi.
 */
import { Observable, type Subscriber } from "rxjs";
import { DeadMappingError, type Guest, type Page } from "@pvkit/hypervisor-sim";
import { xencons_interface, type StartInfo } from "@pvkit/hypervisor-sim/abi";
import {
  ByteRingReader,
  ByteRingWriter,
  type EventChannel,
  type EventChannels,
  RingProtocolError,
  consoleInRing,
  consoleOutRing,
} from "@pvkit/guest-sdk";
import { ConsoleError } from "./console-error.js";
import { ConsoleStream, type ConsoleStreamOptions } from "./console-stream.js";

/** Default bound of output waiting for ring space, in bytes. */
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024;

/** What console 0 needs from the guest: what a `GuestContext` has. */
export interface ConsoleGuest {
  readonly guest: Guest;
  readonly events: EventChannels;
  readonly startInfo: StartInfo;
}

/** Options of {@link ConsoleFront.open}. */
export interface ConsoleOptions {
  /** Output allowed to wait for ring space, in bytes. Default 16 KiB. */
  readonly maxPendingBytes?: number;
}

/** Options of {@link ConsoleFront.write}. */
export interface ConsoleWriteOptions {
  /** Abandons the write: its unsent bytes leave the queue and it rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
}

/** Counters of one console (bytes and events since open). */
export interface ConsoleStats {
  /** Bytes placed in `out`. */
  readonly bytesOut: number;
  /** Bytes taken from `in`. */
  readonly bytesIn: number;
  /** Notifications sent to the backend. */
  readonly notifications: number;
  /** Events received from the backend. */
  readonly events: number;
  /** Events that brought no input and no output progress. */
  readonly spuriousEvents: number;
  /** Bytes refused with "output-full" or withdrawn by an aborted or failed write. */
  readonly droppedBytes: number;
  /** Bytes waiting for ring space now. */
  readonly pendingBytes: number;
}

/** @internal An input consumer: an `input$` subscriber or a stream. */
export interface InputSink {
  /** Whether it wants bytes now. */
  wants(): boolean;
  deliver(bytes: Uint8Array): void;
  fail(err: ConsoleError): void;
  end(): void;
}

interface PendingWrite {
  readonly bytes: Uint8Array;
  sent: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

let make: (
  page: Page,
  bind: (onEvent: () => void) => EventChannel,
  opts: ConsoleOptions,
) => ConsoleFront;

/**
 * @internal `consoleFrontend` makes an extra console on the ring page it granted (the
 * constructor is private); see the constructor for `bind`.
 */
export function newConsoleFront(
  page: Page,
  bind: (onEvent: () => void) => EventChannel,
  opts: ConsoleOptions = {},
): ConsoleFront {
  return make(page, bind, opts);
}

/** Console 0 of a PV guest (see the module comment). Open it with {@link ConsoleFront.open}. */
export class ConsoleFront implements Disposable {
  readonly #page: Page;
  readonly #out: ByteRingWriter;
  readonly #in: ByteRingReader;
  readonly #channel: EventChannel;
  readonly #maxPending: number;
  readonly #queue: PendingWrite[] = [];
  readonly #sinks = new Set<InputSink>();
  #pendingBytes = 0;
  #halt: ConsoleError | undefined;
  #closed = false;
  #lastOutCons: number;
  #pumpQueued = false;
  #stats = {
    bytesOut: 0,
    bytesIn: 0,
    notifications: 0,
    events: 0,
    spuriousEvents: 0,
    droppedBytes: 0,
  };

  static {
    make = (page, bind, opts) => new ConsoleFront(page, bind, opts);
  }

  /**
   * Opens console 0 from start_info: the ring page at `console.domU.mfn` (a GFN in a translated
   * guest) and the port `console.domU.evtchn`, which is adopted into `events` (the builder bound
   * it; closing the console does not close the port).
   * @throws RangeError for a dom0 start_info (no domU console), a bad option, or a port already
   *   taken in `events`; XenError from EVTCHNOP_status.
   */
  static open(ctx: ConsoleGuest, opts: ConsoleOptions = {}): ConsoleFront {
    const c = ctx.startInfo.console;
    if (c.kind !== "domU")
      throw new RangeError("start_info has the dom0 console variant: no console ring to open");
    return new ConsoleFront(
      ctx.guest.memory.writablePage(c.mfn),
      (onEvent) => ctx.events.adopt(c.evtchn, { lateEoi: true, onEvent }),
      opts,
    );
  }

  /**
   * Use {@link ConsoleFront.open} (console 0) or {@link consoleFrontend} (extra consoles); private,
   * so the published .d.ts has no `new ConsoleFront()`. `bind` makes the console's channel,
   * late-EOI, with the given handler.
   */
  private constructor(
    page: Page,
    bind: (onEvent: () => void) => EventChannel,
    opts: ConsoleOptions = {},
  ) {
    const max = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    if (!Number.isInteger(max) || max < 0)
      throw new RangeError(`maxPendingBytes must be a non-negative integer, got ${max}`);
    this.#maxPending = max;
    this.#page = page;
    this.#out = new ByteRingWriter(page, consoleOutRing);
    this.#in = new ByteRingReader(page, consoleInRing);
    this.#lastOutCons = page.getU32(xencons_interface.out_cons[0]);
    // Late EOI: the port stays masked while an event is handled, and for good once halted.
    this.#channel = bind(() => this.#onEvent());
  }

  /** The console's event channel port. */
  get port(): number {
    return this.#channel.port;
  }

  /** Why the console halted, if it did. */
  get halted(): ConsoleError | undefined {
    return this.#halt;
  }

  /** True after `close()`/`destroy()`. */
  get closed(): boolean {
    return this.#closed;
  }

  get stats(): ConsoleStats {
    return { ...this.#stats, pendingBytes: this.#pendingBytes };
  }

  /**
   * Copies as many leading bytes of `data` as fit in `out` now and notifies the backend if any
   * did (`__write_console`). Never waits. Bytes queued by `write()` go first: while any are
   * pending this returns 0.
   * @returns bytes placed in the ring.
   * @throws ConsoleError "ring-index" (and halts) on corrupt indices, or the halt/close error.
   */
  tryWrite(data: Uint8Array | string): number {
    this.#assertUsable();
    if (this.#queue.length > 0) return 0;
    const bytes = toBytes(data);
    const n = this.#guard(() => this.#out.write(bytes));
    if (n === undefined) throw this.#halt!;
    if (n > 0) {
      this.#stats.bytesOut += n;
      this.#notify();
    }
    return n;
  }

  /**
   * Writes all of `data`, in order after earlier writes; resolves once every byte is in the ring
   * (see the output policy in the module comment).
   * @throws (rejects) ConsoleError "output-full" at once when the pending queue would exceed
   *   `maxPendingBytes`; "ring-index" on a halt; "closed" on close; `signal.reason` on abort.
   */
  write(data: Uint8Array | string, opts: ConsoleWriteOptions = {}): Promise<void> {
    if (this.#halt) return Promise.reject(this.#halt);
    if (this.#closed) return Promise.reject(new ConsoleError({ reason: "closed" }));
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const bytes = toBytes(data).slice();
    if (bytes.length === 0) return Promise.resolve();
    const free = this.#queue.length > 0 ? 0 : this.#outFree();
    if (this.#halt) return Promise.reject(this.#halt);
    if (free < bytes.length) {
      const unsent = bytes.length - free;
      if (this.#pendingBytes + unsent > this.#maxPending) {
        this.#stats.droppedBytes += bytes.length;
        return Promise.reject(
          new ConsoleError({
            reason: "output-full",
            pending: this.#pendingBytes,
            length: bytes.length,
            maxPendingBytes: this.#maxPending,
          }),
        );
      }
    }
    return new Promise<void>((resolve, reject) => {
      const w: PendingWrite = { bytes, sent: 0, resolve, reject, signal, onAbort: undefined };
      this.#queue.push(w);
      this.#pendingBytes += bytes.length;
      if (signal !== undefined) {
        w.onAbort = () => this.#withdraw(w, signal.reason);
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.#flush();
    });
  }

  /**
   * Bytes typed on the backend's terminal, as they are taken from `in` (cold: each subscriber
   * gets what arrives while it is subscribed; while any subscriber is there, input is taken as
   * it comes). Completes on close; errors with the ConsoleError on a halt.
   */
  readonly input$: Observable<Uint8Array> = new Observable<Uint8Array>(
    (sub: Subscriber<Uint8Array>) => {
      if (this.#halt) {
        sub.error(this.#halt);
        return;
      }
      if (this.#closed) {
        sub.complete();
        return;
      }
      const sink: InputSink = {
        wants: () => true,
        deliver: (b) => sub.next(b),
        fail: (e) => sub.error(e),
        end: () => sub.complete(),
      };
      const off = this.addInputSink(sink);
      return off;
    },
  );

  /** @internal Registers an input consumer; returns its removal. Starts a read pass. */
  addInputSink(sink: InputSink): () => void {
    this.#sinks.add(sink);
    this.pumpInput();
    return () => void this.#sinks.delete(sink);
  }

  /** @internal A consumer wants bytes again: run a read pass from a microtask. */
  pumpInput(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      if (this.#readInput()) this.#notify();
    });
  }

  /**
   * Releases the console: pending writes are rejected ("closed"), input consumers end, the
   * port's handler is removed (console 0's port belongs to the domain and stays bound; an
   * extra console's port is closed, and its device releases it too).
   * Idempotent. `close()` is the same; there is nothing to drain that a stalled backend could not
   * hold forever, so await `write()` first to drain.
   */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(this.#halt ?? new ConsoleError({ reason: "closed" }));
    for (const s of [...this.#sinks]) s.end();
    this.#sinks.clear();
    this.#channel.close();
  }

  /** A Duplex over this console (see ConsoleStream). Several may exist; each gets all input. */
  stream(opts: ConsoleStreamOptions = {}): ConsoleStream {
    return new ConsoleStream(this, opts);
  }

  /** Same as {@link destroy}. */
  close(): void {
    this.destroy();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  // ---- internals ----------------------------------------------------------------------------

  #onEvent(): void {
    if (this.#halt || this.#closed) return; // left masked: a halted console ignores its backend
    this.#stats.events++;
    const read = this.#readInput();
    const outCons = this.#page.getU32(xencons_interface.out_cons[0]);
    const progressed = outCons !== this.#lastOutCons;
    this.#lastOutCons = outCons;
    const wrote = this.#flush();
    if (read) this.#notify();
    if (!read && !progressed && !wrote) this.#stats.spuriousEvents++;
    if (!this.#halt) this.#channel.eoi();
  }

  /** Takes input for the consumers that want it. True if bytes were consumed. */
  #readInput(): boolean {
    if (this.#halt || this.#closed) return false;
    let any = false;
    for (;;) {
      const sinks = [...this.#sinks].filter((s) => s.wants());
      if (sinks.length === 0) return any;
      const bytes = this.#guard(() => this.#in.read());
      if (bytes === undefined || bytes.length === 0) return any;
      any = true;
      this.#stats.bytesIn += bytes.length;
      for (const s of sinks) s.deliver(bytes);
    }
  }

  /** Moves pending writes into `out`; notifies if any byte went. True if any did. */
  #flush(): boolean {
    let moved = 0;
    while (this.#queue.length > 0 && !this.#halt) {
      const w = this.#queue[0]!;
      const n = this.#guard(() => this.#out.write(w.bytes.subarray(w.sent)));
      if (n === undefined || n === 0) break;
      w.sent += n;
      moved += n;
      this.#pendingBytes -= n;
      if (w.sent === w.bytes.length) {
        this.#queue.shift();
        if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
        w.resolve();
      }
    }
    if (moved > 0) {
      this.#stats.bytesOut += moved;
      this.#notify();
    }
    return moved > 0;
  }

  #outFree(): number {
    return this.#guard(() => this.#out.free) ?? 0;
  }

  #withdraw(w: PendingWrite, reason: unknown): void {
    const i = this.#queue.indexOf(w);
    if (i < 0) return;
    this.#queue.splice(i, 1);
    const unsent = w.bytes.length - w.sent;
    this.#pendingBytes -= unsent;
    this.#stats.droppedBytes += unsent;
    w.reject(reason);
  }

  #failAll(err: ConsoleError): void {
    for (const w of this.#queue.splice(0)) {
      if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
      this.#stats.droppedBytes += w.bytes.length - w.sent;
      w.reject(err);
    }
    this.#pendingBytes = 0;
  }

  /** Runs a ring operation; a corrupt-index fault halts the console and yields undefined. */
  #guard<T>(op: () => T): T | undefined {
    try {
      return op();
    } catch (err) {
      if (err instanceof DeadMappingError) {
        // The ring page died with the domain (or its mapping): the console is gone, not broken.
        this.#gone();
        return undefined;
      }
      if (!(err instanceof RingProtocolError) || err.fault.reason !== "byte-ring-index") throw err;
      const f = err.fault;
      this.#haltWith(
        new ConsoleError(
          {
            reason: "ring-index",
            ring: f.size === consoleInRing.size ? "in" : "out",
            prod: f.prod,
            cons: f.cons,
            size: f.size,
          },
          { cause: err },
        ),
      );
      return undefined;
    }
  }

  /** The page is gone: end like destroy(), without touching the (dead) port. */
  #gone(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(this.#halt ?? new ConsoleError({ reason: "closed" }));
    for (const s of [...this.#sinks]) s.end();
    this.#sinks.clear();
  }

  #haltWith(err: ConsoleError): void {
    if (this.#halt) return;
    this.#halt = err;
    this.#failAll(err);
    for (const s of [...this.#sinks]) s.fail(err);
    this.#sinks.clear();
  }

  #notify(): void {
    this.#stats.notifications++;
    this.#channel.notify();
  }

  #assertUsable(): void {
    if (this.#halt) throw this.#halt;
    if (this.#closed) throw new ConsoleError({ reason: "closed" });
  }
}

const encoder = new TextEncoder();

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}
