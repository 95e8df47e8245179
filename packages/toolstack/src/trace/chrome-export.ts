/**
 * Exports a recording ({@link RecordedTrace}) to the Chrome Trace Event Format (chrome-format.ts),
 * deterministically: the same recording gives the same bytes (no wall clock, no Map iteration
 * order in the output, keys in a fixed order, events stably sorted by time).
 *
 * Layout (what Perfetto shows):
 * - one process per domain, `pid` = domid + 1, named "d<domid> (<name>)";
 * - one thread per vCPU, `tid` = pid * 1000 + vcpu, named "vcpu<n>": hypercalls as complete
 *   slices ("X", cat "hypercall", named by sub-command, args op / rc / errno / the argument
 *   snapshot), upcalls as slices (cat "evtchn"), raises and timer expiries as instants;
 * - a "xenstored" thread in dom0's process (`tid` 1999): each request as a slice named by its
 *   type, args path / domid / connection / req_id / tx_id;
 * - driver tracks (spans, request lifetimes) as threads `tid` = pid * 1000 + 100 + k, in order of
 *   first use;
 * - flow arrows ("s" → "f", cat "notify") from the hypercall that raised a port to the upcall
 *   it caused (notify-links.ts);
 * - counters ("C", "grant maps") per domain: mappings held, and its grants mapped by peers;
 * - a counter per request track ("C" named by the track, series "occupancy", cat "ring", in the
 *   track's process): its requests in flight, from a request's first phase to its "completed"
 *   (on a ring's track: queued and not yet completed);
 * - domain lifecycle as process-scoped instants.
 *
 * Two timelines (`timeline` option):
 * - `"sequence"` (the default): each record sits at its position in the recording, as µs (the
 *   first record at 0, the next at 1, ...), and each slice of an instantaneous step lasts 0.8 of
 *   a step, so every hypercall, upcall and xenstore request is visible and in order. A host runs
 *   many steps at one virtual instant (time advances only when the host is quiescent: during a
 *   blk burst nearly everything happens at t = 0), which a virtual timeline piles onto one `ts`.
 *   Virtual time stays in each record's args as `vt_ns`; a span starts at the first record of its
 *   start instant and ends at its own record; a request phase sits at its record.
 * - `"virtual"`: virtual time maps to `ts` exactly: ns / 1000 µs; many slices then have `dur` 0
 *   and share a `ts`, in recording order in the file.
 */
import { errnoName, gntstName } from "@pvkit/hypervisor-sim/abi";
import type { ChromeTrace, ChromeTraceEvent } from "./chrome-format.js";
import { stringifyChromeTrace } from "./chrome-format.js";
import { jsonSafe } from "./json-safe.js";
import { grantCounts, linkNotifications } from "./notify-links.js";
import type { RecordedTrace } from "./recorder.js";
import { REQUEST_PHASES, type PhaseRecord, type TraceRecord } from "./records.js";

/** Format name and version written in `metadata.format`. */
export const PVKIT_TRACE_FORMAT = "pvkit-trace/1";

/** `tid` of the xenstored track within dom0's process. */
export const XENSTORED_TID = 1999;

const VCPU_TID_MAX = 100;
const TRACK_TID_BASE = 100;
const TRACK_TID_MAX = 999 - TRACK_TID_BASE;

/** The `pid` of domain `domid`'s process. */
export function domainPid(domid: number): number {
  return domid + 1;
}

/** The `tid` of vCPU `vcpu` of domain `domid`. */
export function vcpuTid(domid: number, vcpu: number): number {
  return domainPid(domid) * 1000 + vcpu;
}

/** A record's virtual time, ns (when it was made: a span's end). */
function recordTime(r: TraceRecord): number {
  return r.t;
}

/** ns → µs, exactly as a decimal (1234 ns → 1.234). */
function us(ns: number): number {
  return ns / 1000;
}

interface Timed {
  readonly ts: number;
  readonly e: ChromeTraceEvent;
}

/** Names driver tracks' threads, per domain, in order of first use. */
class Tracks {
  readonly #tids = new Map<string, number>();
  readonly #count = new Map<number, number>();
  readonly names: { pid: number; tid: number; name: string }[] = [];

  tid(domid: number, track: string): number {
    const key = `${domid}\u0000${track}`;
    const known = this.#tids.get(key);
    if (known !== undefined) return known;
    const k = this.#count.get(domid) ?? 0;
    if (k >= TRACK_TID_MAX)
      throw new RangeError(`d${domid} has more than ${TRACK_TID_MAX} driver tracks`);
    this.#count.set(domid, k + 1);
    const tid = domainPid(domid) * 1000 + TRACK_TID_BASE + k;
    this.#tids.set(key, tid);
    this.names.push({ pid: domainPid(domid), tid, name: track });
    return tid;
  }
}

/**
 * Requests in flight per request track: an id is in flight from its first phase to its
 * "completed" (a lifetime as `requestLifetimes` makes it), so on a ring track it is the requests
 * queued and not yet completed (`req_prod_pvt - rsp_cons` as the frontend counts them, for the
 * requests made while the recorder was attached).
 */
class Occupancy {
  readonly #open = new Map<string, Set<string>>();

  /** The track's new count after phase `p`, or undefined if it did not change. */
  change(p: PhaseRecord): number | undefined {
    const key = `${p.domid}\u0000${p.track}`;
    let ids = this.#open.get(key);
    if (ids === undefined) this.#open.set(key, (ids = new Set()));
    const before = ids.size;
    if (p.phase === "completed") ids.delete(p.id);
    else ids.add(p.id);
    return ids.size === before ? undefined : ids.size;
  }
}

function hypercallArgs(r: Extract<TraceRecord, { kind: "hypercall" }>): Record<string, unknown> {
  const a: Record<string, unknown> = { hypercall: r.hypercall, op: r.cmd, rc: r.result };
  if (r.result < 0) a.errno = errnoName(r.result) ?? `errno ${-r.result}`;
  if (r.hypercall === "grant_table_op" && Array.isArray(r.args)) {
    a.status = r.args.map((x: { status?: unknown }) =>
      typeof x?.status === "number" ? (gntstName(x.status) ?? x.status) : null,
    );
  }
  const arg = jsonSafe(r.args);
  if (arg !== undefined) a.arg = arg;
  return a;
}

/** How records are placed on the trace's time axis; see the module comment of chrome-export.ts. */
export type TraceTimeline = "virtual" | "sequence";

/** Width of an instantaneous slice on the sequence timeline, in steps (µs). */
const STEP_DUR = 0.8;

/** Options of {@link exportChromeTrace}. */
export interface ChromeExportOptions {
  /**
   * `"sequence"` (default): each record at its position in the recording (µs), virtual time in
   * args `vt_ns`; `"virtual"`: `ts` = virtual ns / 1000.
   */
  readonly timeline?: TraceTimeline;
  /** Extra `metadata` entries (after the exporter's own), e.g. the command that made the run. */
  readonly metadata?: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * The recording as a Chrome trace document (see the module comment for the layout).
 * @throws RangeError if a domain uses more than 899 driver tracks.
 */
export function exportChromeTrace(
  trace: RecordedTrace,
  opts: ChromeExportOptions = {},
): ChromeTrace {
  const { records } = trace;
  const links = linkNotifications(records);
  const flowsFrom = new Map<number, number[]>();
  const flowsTo = new Map<number, number[]>();
  for (const l of links) {
    flowsFrom.set(l.from, [...(flowsFrom.get(l.from) ?? []), l.id]);
    flowsTo.set(l.to, [...(flowsTo.get(l.to) ?? []), l.id]);
  }
  const sequence = (opts.timeline ?? "sequence") === "sequence";
  // Sequence timeline: a record's position; a virtual time's first record (spans' starts).
  const pos = new Map<number, number>();
  records.forEach((r, i) => void pos.set(r.n, i));
  const firstAt = (ns: number, upTo: number): number => {
    let lo = 0;
    let hi = upTo;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (recordTime(records[mid]!) < ns) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  /** `ts` (µs) of record `n` at virtual `ns`. */
  const at = (n: number, ns: number): number => (sequence ? (pos.get(n) ?? 0) : us(ns));
  const dur0 = sequence ? STEP_DUR : 0;
  const vt = (ns: number): Record<string, number> => (sequence ? { vt_ns: ns } : {});
  const counters = new Map<number, ReturnType<typeof grantCounts>>();
  for (const c of grantCounts(records)) counters.set(c.n, [...(counters.get(c.n) ?? []), c]);

  const tracks = new Tracks();
  const occupancy = new Occupancy();
  const timed: Timed[] = [];
  const usedVcpus = new Set<number>();
  const usedPids = new Set<number>();
  let xenstoredUsed = false;
  const put = (ts: number, e: ChromeTraceEvent): void => {
    usedPids.add(e.pid);
    timed.push({ ts, e });
  };
  const onVcpu = (domid: number, vcpu: number): { pid: number; tid: number } => {
    const tid = vcpuTid(domid, vcpu);
    usedVcpus.add(tid);
    return { pid: domainPid(domid), tid };
  };

  for (const r of records) {
    switch (r.kind) {
      case "hypercall": {
        const on = onVcpu(r.domid, r.vcpu);
        const ts = at(r.n, r.t);
        put(ts, {
          name: r.cmd,
          cat: "hypercall",
          ph: "X",
          ts,
          dur: dur0,
          ...on,
          args: { ...hypercallArgs(r), ...vt(r.t) },
        });
        for (const id of flowsFrom.get(r.n) ?? [])
          put(ts, { name: "notify", cat: "notify", ph: "s", ts, ...on, id: String(id) });
        break;
      }
      case "upcall": {
        const on = onVcpu(r.domid, r.vcpu);
        const ts = at(r.n, r.t);
        put(ts, {
          name: "upcall",
          cat: "evtchn",
          ph: "X",
          ts,
          dur: dur0,
          ...on,
          args: { seq: r.seq, ...vt(r.t) },
        });
        for (const id of flowsTo.get(r.n) ?? [])
          put(ts, { name: "notify", cat: "notify", ph: "f", ts, ...on, id: String(id), bp: "e" });
        break;
      }
      case "raise":
        put(at(r.n, r.t), {
          name: "raise",
          cat: "evtchn",
          ph: "i",
          ts: at(r.n, r.t),
          ...onVcpu(r.domid, r.vcpu),
          s: "t",
          args: { port: r.port, outcome: r.outcome, seq: r.seq, ...vt(r.t) },
        });
        break;
      case "timer":
        put(at(r.n, r.t), {
          name: "timer",
          cat: "timer",
          ph: "i",
          ts: at(r.n, r.t),
          ...onVcpu(r.domid, r.vcpu),
          s: "t",
          args: { seq: r.seq, ...vt(r.t) },
        });
        break;
      case "domain":
        put(at(r.n, r.t), {
          name: `domain ${r.what}`,
          cat: "domain",
          ph: "i",
          ts: at(r.n, r.t),
          pid: domainPid(r.domid),
          s: "p",
          args: {
            what: r.what,
            ...(r.reason !== undefined ? { reason: r.reason } : {}),
            name: r.name,
            seq: r.seq,
            ...vt(r.t),
          },
        });
        break;
      case "xenstore":
        xenstoredUsed = true;
        put(at(r.n, r.t), {
          name: r.type,
          cat: "xenstore",
          ph: "X",
          ts: at(r.n, r.t),
          dur: dur0,
          pid: domainPid(0),
          tid: XENSTORED_TID,
          args: {
            domid: r.domid,
            conn: r.conn,
            ...(r.path !== undefined ? { path: r.path } : {}),
            req_id: r.reqId,
            tx_id: r.txId,
            ...vt(r.t),
          },
        });
        break;
      case "span": {
        // Sequence: from the first record of its start instant to its own record (written at its end).
        const end = pos.get(r.n) ?? 0;
        const start = sequence ? Math.min(firstAt(r.startNs, end), end) : us(r.startNs);
        const args = {
          ...(r.args !== undefined ? (jsonSafe(r.args) as Record<string, unknown>) : {}),
          ...(sequence ? { vt_ns: r.startNs, vt_end_ns: r.endNs } : {}),
        };
        put(start, {
          name: r.name,
          cat: "span",
          ph: "X",
          ts: start,
          dur: sequence ? end - start + STEP_DUR : us(r.endNs - r.startNs),
          pid: domainPid(r.domid),
          tid: tracks.tid(r.domid, r.track),
          ...(Object.keys(args).length > 0 ? { args } : {}),
        });
        break;
      }
      case "phase": {
        tracks.tid(r.domid, r.track);
        const n = occupancy.change(r);
        if (n !== undefined) {
          const ts = at(r.n, r.t);
          put(ts, {
            name: r.track,
            cat: "ring",
            ph: "C",
            ts,
            pid: domainPid(r.domid),
            args: { occupancy: n },
          });
        }
        break;
      }
    }
    for (const c of counters.get(r.n) ?? []) {
      put(at(c.n, c.t), {
        name: "grant maps",
        cat: "gnttab",
        ph: "C",
        ts: at(c.n, c.t),
        pid: domainPid(c.domid),
        args: { mapped: c.mapped, peers: c.peers },
      });
    }
  }
  for (const x of requestLifetimes(
    records,
    tracks,
    sequence ? (p) => pos.get(p.n) ?? 0 : (p) => p.t,
    sequence ? (x) => x : us,
    sequence,
  ))
    put(x.ts, x.e);

  // Stable: equal timestamps keep the recording order (a flow start stays after its slice).
  timed.sort((a, b) => a.ts - b.ts);
  const meta = metadataEvents(trace, usedPids, usedVcpus, xenstoredUsed, tracks);
  return {
    traceEvents: [...meta, ...timed.map((x) => x.e)],
    displayTimeUnit: "ns",
    metadata: {
      format: PVKIT_TRACE_FORMAT,
      clock: sequence
        ? "sequence: ts = the record's position in the recording (µs); virtual ns since boot in args.vt_ns"
        : "virtual ns since boot (ts = ns / 1000)",
      timeline: sequence ? "sequence" : "virtual",
      seed: trace.seed ?? null,
      records: records.length,
      dropped: trace.dropped,
      firstRecord: records[0]?.n ?? null,
      lastRecord: records[records.length - 1]?.n ?? null,
      flows: links.length,
      ...opts.metadata,
    },
  };
}

/** Process and thread names, sorted by pid then tid. */
function metadataEvents(
  trace: RecordedTrace,
  pids: Set<number>,
  vcpus: Set<number>,
  xenstored: boolean,
  tracks: Tracks,
): ChromeTraceEvent[] {
  const names = new Map(trace.domains.map((d) => [domainPid(d.domid), d]));
  const threads: { pid: number; tid: number; name: string }[] = [];
  for (const d of trace.domains) {
    const pid = domainPid(d.domid);
    for (let v = 0; v < Math.min(d.vcpus, VCPU_TID_MAX); v++)
      threads.push({ pid, tid: vcpuTid(d.domid, v), name: `vcpu${v}` });
  }
  for (const tid of vcpus) {
    const pid = Math.floor(tid / 1000);
    if (!threads.some((t) => t.tid === tid)) threads.push({ pid, tid, name: `vcpu${tid % 1000}` });
  }
  if (xenstored) threads.push({ pid: domainPid(0), tid: XENSTORED_TID, name: "xenstored" });
  threads.push(...tracks.names);
  const allPids = new Set([...pids, ...names.keys(), ...threads.map((t) => t.pid)]);
  const out: ChromeTraceEvent[] = [];
  for (const pid of [...allPids].sort((a, b) => a - b)) {
    const d = names.get(pid);
    const label = d === undefined ? `d${pid - 1}` : `d${d.domid} (${d.names.join(", ")})`;
    out.push({ name: "process_name", ph: "M", pid, args: { name: label } });
    out.push({ name: "process_sort_index", ph: "M", pid, args: { sort_index: pid } });
    for (const t of threads.filter((x) => x.pid === pid).sort((a, b) => a.tid - b.tid)) {
      out.push({ name: "thread_name", ph: "M", pid, tid: t.tid, args: { name: t.name } });
    }
  }
  return out;
}

/**
 * Request lifetimes as async slices (cat "request"): one outer slice from the first phase to the
 * last, with a nested slice per phase (named by the phase, ending where the next begins). A
 * lifetime ends at "completed", or when its id's phases start over (a phase not after the last
 * one); a lifetime still open when the recording ends is closed at its last phase with
 * `incomplete: true`.
 */
function requestLifetimes(
  records: readonly TraceRecord[],
  tracks: Tracks,
  place: (p: PhaseRecord) => number,
  toTs: (x: number) => number,
  withVt: boolean,
): { ts: number; e: ChromeTraceEvent }[] {
  /** Sequence timeline: each begin and end carries its virtual time (the summary reads it). */
  const vt = (p: PhaseRecord): { args?: Record<string, unknown> } =>
    withVt ? { args: { vt_ns: p.t } } : {};
  const open = new Map<string, PhaseRecord[]>();
  const done: PhaseRecord[][] = [];
  for (const r of records) {
    if (r.kind !== "phase") continue;
    const key = `${r.domid}\u0000${r.track}\u0000${r.id}`;
    const cur = open.get(key);
    if (
      cur !== undefined &&
      REQUEST_PHASES.indexOf(r.phase) <= REQUEST_PHASES.indexOf(cur[cur.length - 1]!.phase)
    ) {
      done.push(cur);
      open.delete(key);
    }
    const list = open.get(key) ?? [];
    list.push(r);
    open.set(key, list);
    if (r.phase === "completed") {
      done.push(list);
      open.delete(key);
    }
  }
  done.push(...open.values());
  done.sort((a, b) => a[0]!.n - b[0]!.n);
  const out: { ts: number; e: ChromeTraceEvent }[] = [];
  const serial = new Map<string, number>();
  for (const life of done) {
    const first = life[0]!;
    const last = life[life.length - 1]!;
    const base = `${first.domid}/${first.track}/${first.id}`;
    const k = (serial.get(base) ?? 0) + 1;
    serial.set(base, k);
    const id = `${base}#${k}`;
    const pid = domainPid(first.domid);
    const tid = tracks.tid(first.domid, first.track);
    const name = life.find((p) => p.label !== undefined)?.label ?? `request ${first.id}`;
    const complete = last.phase === "completed";
    const outer = {
      track: first.track,
      id: first.id,
      phases: life.map((p) => p.phase).join(" "),
      ...(complete ? {} : { incomplete: true }),
    };
    // Phases given explicit times out of order are clamped so no slice ends before it begins.
    const at: number[] = [];
    for (const p of life) at.push(Math.max(place(p), at[at.length - 1] ?? 0));
    out.push({
      ts: toTs(at[0]!),
      e: {
        name,
        cat: "request",
        ph: "b",
        ts: toTs(at[0]!),
        pid,
        tid,
        id,
        args: { ...outer, ...vt(first).args },
      },
    });
    for (let i = 0; i + 1 < life.length; i++) {
      const p = life[i]!;
      const pa = {
        ...(p.args !== undefined ? (jsonSafe(p.args) as Record<string, unknown>) : {}),
        ...vt(p).args,
      };
      const args = Object.keys(pa).length > 0 ? { args: pa } : {};
      out.push({
        ts: toTs(at[i]!),
        e: { name: p.phase, cat: "request", ph: "b", ts: toTs(at[i]!), pid, tid, id, ...args },
      });
      out.push({
        ts: toTs(at[i + 1]!),
        e: {
          name: p.phase,
          cat: "request",
          ph: "e",
          ts: toTs(at[i + 1]!),
          pid,
          tid,
          id,
          ...vt(life[i + 1]!),
        },
      });
    }
    const end = toTs(at[at.length - 1]!);
    out.push({ ts: end, e: { name, cat: "request", ph: "e", ts: end, pid, tid, id, ...vt(last) } });
  }
  return out;
}

/** {@link exportChromeTrace} serialised with {@link stringifyChromeTrace}: what a trace file holds. */
export function chromeTraceJson(trace: RecordedTrace, opts: ChromeExportOptions = {}): string {
  return stringifyChromeTrace(exportChromeTrace(trace, opts));
}
