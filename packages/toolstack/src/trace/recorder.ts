/**
 * Records what a host does, in memory, for the Chrome/Perfetto exporter, the summary printer and
 * the sanitizer: the hypervisor's trace events (hypercalls, raises, upcalls, timers, domain
 * lifecycle), every request xenstored receives, the lifetime of every request on the shared rings
 * made while it is attached (queued → notified → consumed → responded → completed, one track per
 * device: ring-lifetimes.ts), and the spans and request-lifetime phases drivers add. Subscribing
 * turns the hypervisor's trace emission and the rings' announcements (`driverInspect`) on, so a
 * host pays for tracing only while a recorder is attached.
 *
 * ```ts
 * using rec = recordTrace(host, { maxEvents: 100_000 });
 * // ... run the scenario ...
 * writeFileSync("run.json", chromeTraceJson(rec.snapshot()));
 * ```
 *
 * The recording is bounded: past `maxEvents` the oldest records are dropped (or, with
 * `overflow: "drop-newest"`, new ones are not kept) and {@link TraceRecorder.dropped} counts them.
 */
import type {
  DomainTrace,
  HypercallTrace,
  RaiseTrace,
  TimerTrace,
  TraceEvents,
  UpcallTrace,
} from "@pvkit/hypervisor-sim";
import { driverInspect } from "@pvkit/guest-sdk";
import type { Host } from "../host/host.js";
import type { Connection } from "../xenstored/connection.js";
import { getStrings } from "../xenstored/payload.js";
import type { XsMessage } from "@pvkit/hypervisor-sim/abi";
import {
  REQUEST_PHASES,
  TRACE_RECORD_KINDS,
  type RequestPhase,
  type TraceRecord,
  type TraceRecordKind,
} from "./records.js";
import { RingLifetimes } from "./ring-lifetimes.js";

/** Default bound of a recording (records kept). */
export const DEFAULT_MAX_TRACE_EVENTS = 1_000_000;

/** Longest path kept in a xenstore record (characters). */
const PATH_MAX_KEPT = 256;

export interface TraceRecorderOptions {
  /** Most records kept in memory; a positive integer. Default {@link DEFAULT_MAX_TRACE_EVENTS}. */
  readonly maxEvents?: number;
  /** Which records to drop once full. Default "drop-oldest" (keep the latest window). */
  readonly overflow?: "drop-oldest" | "drop-newest";
}

/** A domain as the trace names it. */
export interface TracedDomain {
  readonly domid: number;
  /** The names the domid had during the recording, in order (usually one). */
  readonly names: readonly string[];
  /** vCPUs the domain had. */
  readonly vcpus: number;
}

/** A finished (or in-progress) recording, as plain data: what the exporter takes. */
export interface RecordedTrace {
  /** Kept records, in recording order (`n` ascending). */
  readonly records: readonly TraceRecord[];
  /** Records observed but not kept (bound reached). */
  readonly dropped: number;
  /** Every domain seen, by domid ascending. */
  readonly domains: readonly TracedDomain[];
  /** The host's chaos seed, if it has one. */
  readonly seed: number | undefined;
}

function checkNs(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`${what} must be a non-negative integer of ns, got ${v}`);
}

function checkDomid(domid: number): void {
  if (!Number.isInteger(domid) || domid < 0 || domid > 0x7fef)
    throw new RangeError(`domid ${domid} is not a domain id`);
}

function checkTrack(track: string): void {
  if (typeof track !== "string" || track.length === 0)
    throw new RangeError("track must be a non-empty string");
}

let makeRecorder: (host: Host, opts: TraceRecorderOptions) => TraceRecorder;

export class TraceRecorder implements Disposable {
  readonly #host: Host;
  readonly #max: number;
  readonly #dropNewest: boolean;
  /** Circular buffer: `#buf[(#head + i) % #max]` is the i-th kept record. */
  readonly #buf: TraceRecord[] = [];
  #head = 0;
  #next = 0;
  #dropped = 0;
  #stopped = false;
  readonly #domains = new Map<number, { names: string[]; vcpus: number }>();
  readonly #unsubscribe: (() => void)[] = [];

  static {
    makeRecorder = (host, opts) => new TraceRecorder(host, opts);
  }

  /** Use {@link recordTrace} (private: the published .d.ts has no `new TraceRecorder()`). */
  private constructor(host: Host, opts: TraceRecorderOptions = {}) {
    const max = opts.maxEvents ?? DEFAULT_MAX_TRACE_EVENTS;
    if (!Number.isSafeInteger(max) || max < 1)
      throw new RangeError(`maxEvents must be a positive integer, got ${max}`);
    const overflow = opts.overflow ?? "drop-oldest";
    if (overflow !== "drop-oldest" && overflow !== "drop-newest")
      throw new RangeError(
        `overflow must be "drop-oldest" or "drop-newest", got ${String(overflow)}`,
      );
    this.#host = host;
    this.#max = max;
    this.#dropNewest = overflow === "drop-newest";
    for (const d of host.hv.domains) this.#noteDomain(d.domid);
    this.#subscribe();
  }

  #subscribe(): void {
    const bus = this.#host.hv.trace;
    const on = <K extends keyof TraceEvents>(name: K, fn: TraceEvents[K]): void => {
      bus.on(name, fn as never);
      this.#unsubscribe.push(() => bus.off(name, fn as never));
    };
    const rings = new RingLifetimes(this.#host, (domid, track, id, phase, label, args) =>
      this.requestPhase(domid, track, id, phase, {
        ...(label !== undefined ? { label } : {}),
        ...(args !== undefined ? { args } : {}),
      }),
    );
    on("hypercall", (e: HypercallTrace) => {
      this.#push({
        kind: "hypercall",
        n: 0,
        t: e.t,
        seq: e.seq,
        domid: e.domid,
        vcpu: e.vcpu,
        hypercall: e.hypercall,
        cmd: e.cmd,
        args: e.args,
        result: e.result,
      });
      rings.hypercall(e);
    });
    on("raise", (e: RaiseTrace) =>
      this.#push({
        kind: "raise",
        n: 0,
        t: e.t,
        seq: e.seq,
        domid: e.domid,
        port: e.port,
        vcpu: e.vcpu,
        outcome: e.outcome,
      }),
    );
    on("upcall", (e: UpcallTrace) =>
      this.#push({ kind: "upcall", n: 0, t: e.t, seq: e.seq, domid: e.domid, vcpu: e.vcpu }),
    );
    on("timer", (e: TimerTrace) =>
      this.#push({ kind: "timer", n: 0, t: e.t, seq: e.seq, domid: e.domid, vcpu: e.vcpu }),
    );
    on("domain", (e: DomainTrace) => {
      if (e.what === "created") this.#noteDomain(e.domid);
      this.#push({
        kind: "domain",
        n: 0,
        t: e.t,
        seq: e.seq,
        domid: e.domid,
        what: e.what,
        ...(e.reason !== undefined ? { reason: e.reason } : {}),
        name: this.#nameOf(e.domid),
      });
    });
    const xs = this.#host.xenstored;
    const onRequest = (conn: Connection, msg: XsMessage, name: string): void => {
      const first = getStrings(msg.payload)[0];
      this.#push({
        kind: "xenstore",
        n: 0,
        t: this.#host.hv.now,
        domid: conn.kind === "domain" ? conn.id : 0,
        conn: conn.kind,
        type: name,
        reqId: msg.req_id,
        txId: msg.tx_id,
        path: first === undefined ? undefined : first.slice(0, PATH_MAX_KEPT),
      });
      rings.xenstoreChanged();
    };
    xs.on("request", onRequest);
    this.#unsubscribe.push(() => xs.off("request", onRequest));
    this.#unsubscribe.push(driverInspect.listen(rings.listener));
  }

  #noteDomain(domid: number): void {
    const d = this.#host.hv.domainById(domid);
    if (d === undefined) return;
    const known = this.#domains.get(domid);
    if (known === undefined) this.#domains.set(domid, { names: [d.name], vcpus: d.vcpus.length });
    else {
      if (known.names[known.names.length - 1] !== d.name) known.names.push(d.name);
      known.vcpus = Math.max(known.vcpus, d.vcpus.length);
    }
  }

  #nameOf(domid: number): string {
    const names = this.#domains.get(domid)?.names;
    return names?.[names.length - 1] ?? `domain-${domid}`;
  }

  #push(r: TraceRecord): void {
    if (this.#stopped) return;
    (r as { n: number }).n = this.#next++;
    if (this.#buf.length < this.#max) {
      this.#buf.push(r);
    } else if (this.#dropNewest) {
      this.#dropped++;
    } else {
      this.#buf[this.#head] = r;
      this.#head = (this.#head + 1) % this.#max;
      this.#dropped++;
    }
  }

  /** Records observed so far, dropped ones included. */
  get observed(): number {
    return this.#next;
  }

  /** Records observed but not kept because the bound was reached. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether {@link stop} was called (nothing more is recorded). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The kept records, in recording order (a copy). */
  records(): TraceRecord[] {
    return [...this.#buf.slice(this.#head), ...this.#buf.slice(0, this.#head)];
  }

  /** Kept records per kind, every kind listed (in {@link TRACE_RECORD_KINDS} order). */
  counts(): Record<TraceRecordKind, number> {
    const c = Object.fromEntries(TRACE_RECORD_KINDS.map((k) => [k, 0])) as Record<
      TraceRecordKind,
      number
    >;
    for (const r of this.#buf) c[r.kind]++;
    return c;
  }

  /** The recording as plain data, for {@link exportChromeTrace} and the summary. */
  snapshot(): RecordedTrace {
    const domains = [...this.#domains.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([domid, d]) => ({ domid, names: [...d.names], vcpus: d.vcpus }));
    return {
      records: this.records(),
      dropped: this.#dropped,
      domains,
      seed: this.#host.options.chaos?.seed,
    };
  }

  /**
   * Adds a span a driver measured: `name` from `startNs` to `endNs` (virtual ns) on `track`, a
   * thread of domain `domid`'s process in the exported trace.
   * @throws RangeError for a bad domid, an empty track or name, or times that are not
   *   non-negative integers with startNs <= endNs.
   */
  span(
    domid: number,
    track: string,
    name: string,
    startNs: number,
    endNs: number,
    args?: Readonly<Record<string, unknown>>,
  ): void {
    checkDomid(domid);
    checkTrack(track);
    if (typeof name !== "string" || name.length === 0)
      throw new RangeError("span name must be a non-empty string");
    checkNs("startNs", startNs);
    checkNs("endNs", endNs);
    if (endNs < startNs)
      throw new RangeError(`span ${name}: endNs ${endNs} is before startNs ${startNs}`);
    this.#push({
      kind: "span",
      n: 0,
      t: this.#host.hv.now,
      domid,
      track,
      name,
      startNs,
      endNs,
      args: args === undefined ? undefined : { ...args },
    });
  }

  /**
   * Marks a phase of a ring request's life ("queued" → "notified" → "consumed" → "responded" →
   * "completed") at virtual time `opts.t` (default now). The exporter turns each request into an
   * async slice on `track` with one nested slice per phase; `label` (first one given) names it.
   * @throws RangeError for a bad domid, track, id, phase or time.
   */
  requestPhase(
    domid: number,
    track: string,
    id: string | number,
    phase: RequestPhase,
    opts: {
      readonly label?: string;
      readonly args?: Readonly<Record<string, unknown>>;
      readonly t?: number;
    } = {},
  ): void {
    checkDomid(domid);
    checkTrack(track);
    if (!REQUEST_PHASES.includes(phase))
      throw new RangeError(
        `phase must be one of ${REQUEST_PHASES.join(", ")}, got ${String(phase)}`,
      );
    if (typeof id !== "string" && !Number.isSafeInteger(id))
      throw new RangeError(`request id must be a string or an integer, got ${String(id)}`);
    const t = opts.t ?? this.#host.hv.now;
    checkNs("t", t);
    this.#push({
      kind: "phase",
      n: 0,
      t,
      domid,
      track,
      id: String(id),
      phase,
      label: opts.label,
      args: opts.args === undefined ? undefined : { ...opts.args },
    });
  }

  /** Stops recording (unsubscribes from the hypervisor and xenstored). Idempotent; records stay readable. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const u of this.#unsubscribe.splice(0)) u();
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

/**
 * Starts recording `host`'s trace (see {@link TraceRecorder}); `stop()` or `using` ends it.
 * @throws RangeError for bad options.
 */
export function recordTrace(host: Host, opts: TraceRecorderOptions = {}): TraceRecorder {
  return makeRecorder(host, opts);
}
