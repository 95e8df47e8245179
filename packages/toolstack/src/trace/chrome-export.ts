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
 * - domain lifecycle as process-scoped instants.
 *
 * Virtual time maps to `ts` exactly: ns / 1000 µs. A host runs many steps at one virtual instant
 * (time advances only when the host is quiescent), so many slices have `dur` 0 and share a `ts`;
 * their order in the file is the recording order.
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
    if (k >= TRACK_TID_MAX) throw new RangeError(`d${domid} has more than ${TRACK_TID_MAX} driver tracks`);
    this.#count.set(domid, k + 1);
    const tid = domainPid(domid) * 1000 + TRACK_TID_BASE + k;
    this.#tids.set(key, tid);
    this.names.push({ pid: domainPid(domid), tid, name: track });
    return tid;
  }
}

function hypercallArgs(r: Extract<TraceRecord, { kind: "hypercall" }>): Record<string, unknown> {
  const a: Record<string, unknown> = { hypercall: r.hypercall, op: r.cmd, rc: r.result };
  if (r.result < 0) a.errno = errnoName(r.result) ?? `errno ${-r.result}`;
  if (r.hypercall === "grant_table_op" && Array.isArray(r.args)) {
    a.status = r.args.map((x: { status?: unknown }) => (typeof x?.status === "number" ? (gntstName(x.status) ?? x.status) : null));
  }
  const arg = jsonSafe(r.args);
  if (arg !== undefined) a.arg = arg;
  return a;
}

/** Options of {@link exportChromeTrace}. */
export interface ChromeExportOptions {
  /** Extra `metadata` entries (after the exporter's own), e.g. the command that made the run. */
  readonly metadata?: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * The recording as a Chrome trace document (see the module comment for the layout).
 * @throws RangeError if a domain uses more than 899 driver tracks.
 */
export function exportChromeTrace(trace: RecordedTrace, opts: ChromeExportOptions = {}): ChromeTrace {
  const { records } = trace;
  const links = linkNotifications(records);
  const flowsFrom = new Map<number, number[]>();
  const flowsTo = new Map<number, number[]>();
  for (const l of links) {
    flowsFrom.set(l.from, [...(flowsFrom.get(l.from) ?? []), l.id]);
    flowsTo.set(l.to, [...(flowsTo.get(l.to) ?? []), l.id]);
  }
  const counters = new Map<number, ReturnType<typeof grantCounts>>();
  for (const c of grantCounts(records)) counters.set(c.n, [...(counters.get(c.n) ?? []), c]);

  const tracks = new Tracks();
  const timed: Timed[] = [];
  const usedVcpus = new Set<number>();
  const usedPids = new Set<number>();
  let xenstoredUsed = false;
  const put = (tsNs: number, e: ChromeTraceEvent): void => {
    usedPids.add(e.pid);
    timed.push({ ts: us(tsNs), e });
  };
  const onVcpu = (domid: number, vcpu: number): { pid: number; tid: number } => {
    const tid = vcpuTid(domid, vcpu);
    usedVcpus.add(tid);
    return { pid: domainPid(domid), tid };
  };

  for (const r of records) {
    switch (r.kind) {
      case "hypercall": {
        const at = onVcpu(r.domid, r.vcpu);
        put(r.t, { name: r.cmd, cat: "hypercall", ph: "X", ts: us(r.t), dur: 0, ...at, args: hypercallArgs(r) });
        for (const id of flowsFrom.get(r.n) ?? []) put(r.t, { name: "notify", cat: "notify", ph: "s", ts: us(r.t), ...at, id: String(id) });
        break;
      }
      case "upcall": {
        const at = onVcpu(r.domid, r.vcpu);
        put(r.t, { name: "upcall", cat: "evtchn", ph: "X", ts: us(r.t), dur: 0, ...at, args: { seq: r.seq } });
        for (const id of flowsTo.get(r.n) ?? []) put(r.t, { name: "notify", cat: "notify", ph: "f", ts: us(r.t), ...at, id: String(id), bp: "e" });
        break;
      }
      case "raise":
        put(r.t, { name: "raise", cat: "evtchn", ph: "i", ts: us(r.t), ...onVcpu(r.domid, r.vcpu), s: "t", args: { port: r.port, outcome: r.outcome, seq: r.seq } });
        break;
      case "timer":
        put(r.t, { name: "timer", cat: "timer", ph: "i", ts: us(r.t), ...onVcpu(r.domid, r.vcpu), s: "t", args: { seq: r.seq } });
        break;
      case "domain":
        put(r.t, {
          name: `domain ${r.what}`,
          cat: "domain",
          ph: "i",
          ts: us(r.t),
          pid: domainPid(r.domid),
          s: "p",
          args: { what: r.what, ...(r.reason !== undefined ? { reason: r.reason } : {}), name: r.name, seq: r.seq },
        });
        break;
      case "xenstore":
        xenstoredUsed = true;
        put(r.t, {
          name: r.type,
          cat: "xenstore",
          ph: "X",
          ts: us(r.t),
          dur: 0,
          pid: domainPid(0),
          tid: XENSTORED_TID,
          args: { domid: r.domid, conn: r.conn, ...(r.path !== undefined ? { path: r.path } : {}), req_id: r.reqId, tx_id: r.txId },
        });
        break;
      case "span":
        put(r.startNs, {
          name: r.name,
          cat: "span",
          ph: "X",
          ts: us(r.startNs),
          dur: us(r.endNs - r.startNs),
          pid: domainPid(r.domid),
          tid: tracks.tid(r.domid, r.track),
          ...(r.args !== undefined ? { args: jsonSafe(r.args) as Record<string, unknown> } : {}),
        });
        break;
      case "phase":
        tracks.tid(r.domid, r.track);
        break;
    }
    for (const c of counters.get(r.n) ?? []) {
      put(c.t, { name: "grant maps", cat: "gnttab", ph: "C", ts: us(c.t), pid: domainPid(c.domid), args: { mapped: c.mapped, peers: c.peers } });
    }
  }
  for (const x of requestLifetimes(records, tracks)) put(x.tsNs, x.e);

  // Stable: equal timestamps keep the recording order (a flow start stays after its slice).
  timed.sort((a, b) => a.ts - b.ts);
  const meta = metadataEvents(trace, usedPids, usedVcpus, xenstoredUsed, tracks);
  return {
    traceEvents: [...meta, ...timed.map((x) => x.e)],
    displayTimeUnit: "ns",
    metadata: {
      format: PVKIT_TRACE_FORMAT,
      clock: "virtual ns since boot (ts = ns / 1000)",
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
function metadataEvents(trace: RecordedTrace, pids: Set<number>, vcpus: Set<number>, xenstored: boolean, tracks: Tracks): ChromeTraceEvent[] {
  const names = new Map(trace.domains.map((d) => [domainPid(d.domid), d]));
  const threads: { pid: number; tid: number; name: string }[] = [];
  for (const d of trace.domains) {
    const pid = domainPid(d.domid);
    for (let v = 0; v < Math.min(d.vcpus, VCPU_TID_MAX); v++) threads.push({ pid, tid: vcpuTid(d.domid, v), name: `vcpu${v}` });
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
function requestLifetimes(records: readonly TraceRecord[], tracks: Tracks): { tsNs: number; e: ChromeTraceEvent }[] {
  const open = new Map<string, PhaseRecord[]>();
  const done: PhaseRecord[][] = [];
  for (const r of records) {
    if (r.kind !== "phase") continue;
    const key = `${r.domid}\u0000${r.track}\u0000${r.id}`;
    const cur = open.get(key);
    if (cur !== undefined && REQUEST_PHASES.indexOf(r.phase) <= REQUEST_PHASES.indexOf(cur[cur.length - 1]!.phase)) {
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
  const out: { tsNs: number; e: ChromeTraceEvent }[] = [];
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
    const outer = { track: first.track, id: first.id, phases: life.map((p) => p.phase).join(" "), ...(complete ? {} : { incomplete: true }) };
    // Phases given explicit times out of order are clamped so no slice ends before it begins.
    const at: number[] = [];
    for (const p of life) at.push(Math.max(p.t, at[at.length - 1] ?? 0));
    out.push({ tsNs: at[0]!, e: { name, cat: "request", ph: "b", ts: us(at[0]!), pid, tid, id, args: outer } });
    for (let i = 0; i + 1 < life.length; i++) {
      const p = life[i]!;
      const args = p.args !== undefined ? { args: jsonSafe(p.args) as Record<string, unknown> } : {};
      out.push({ tsNs: at[i]!, e: { name: p.phase, cat: "request", ph: "b", ts: us(at[i]!), pid, tid, id, ...args } });
      out.push({ tsNs: at[i + 1]!, e: { name: p.phase, cat: "request", ph: "e", ts: us(at[i + 1]!), pid, tid, id } });
    }
    const end = at[at.length - 1]!;
    out.push({ tsNs: end, e: { name, cat: "request", ph: "e", ts: us(end), pid, tid, id } });
  }
  return out;
}

/** {@link exportChromeTrace} serialised with {@link stringifyChromeTrace}: what a trace file holds. */
export function chromeTraceJson(trace: RecordedTrace, opts: ChromeExportOptions = {}): string {
  return stringifyChromeTrace(exportChromeTrace(trace, opts));
}
