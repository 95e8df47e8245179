/**
 * The tracks of a Chrome Trace Event Format document (chrome-format.ts) for the SVG renderer
 * (svg-render.ts): close to what Perfetto's JSON importer builds from the same file, reduced to
 * what a picture needs. One deliberate difference: Perfetto puts async slices on tracks of
 * their own under the process; here they stay on the thread their `tid` names, which is the
 * track pvkit's exporter means them for (a driver's request track).
 *
 * - A process per `pid`, named by its "process_name" metadata event ("pid N" without one), in
 *   "process_sort_index" order, then by pid.
 * - A thread track per (`pid`, `tid`), named by "thread_name" ("tid N"), ordered by
 *   "thread_sort_index" then tid. Its synchronous slices ("X", and "B"/"E" paired per thread: an
 *   "E" closes the latest open "B") nest by containment; its async slices ("b"/"e" with its tid,
 *   paired by `cat` + `id`, an "e" closing the latest open "b" of that id with its name) sit in
 *   lanes below them, one lane band per outermost async slice, packed so none overlap.
 * - Thread-scoped instants ("i"/"I", `s` "t" or absent) on their thread; process-scoped ones
 *   (`s` "p") and async slices without a tid on the process's own row; global ones (`s` "g") on
 *   a row above every process.
 * - A counter track per (`pid`, name, series): each numeric arg of a "C" event is a series, as
 *   Perfetto names them ("grant maps mapped"), after the process's threads in name order; one
 *   whose name is a thread's name and a series ("vbd 51712 ring occupancy", pvkit's counter of
 *   a request track) right below that thread instead.
 * - Flows: "s" (and "t") to "f" paired by `cat` + `name` + `id`; the start binds to the
 *   innermost slice enclosing it on its thread, the end to the enclosing slice when `bp` is "e",
 *   else to the next slice that starts on its thread at or after it (the format's binding rules).
 *
 * A slice "B" still open at the end of the trace ends at the last timestamp, marked `open`.
 */
import type { ChromeTrace, ChromeTraceEvent } from "./chrome-format.js";

/** A slice on a track: `start`/`end` in the trace's `ts` unit (µs). */
export interface LaidSlice {
  readonly name: string;
  readonly cat: string | undefined;
  readonly start: number;
  readonly end: number;
  /** Row within the track: 0 for an outermost synchronous slice, deeper below it. */
  readonly row: number;
  readonly async: boolean;
  /** A "B" never closed (or a "b" never ended): drawn to the end of the trace. */
  readonly open: boolean;
  readonly args: Readonly<Record<string, unknown>> | undefined;
}

/** An instant event on a track. */
export interface LaidInstant {
  readonly name: string;
  readonly ts: number;
  readonly args: Readonly<Record<string, unknown>> | undefined;
}

/** A track: a thread, a process's own row, the global row, or a counter series. */
export interface LaidTrack {
  readonly kind: "thread" | "process" | "global" | "counter";
  readonly pid: number | undefined;
  readonly tid: number | undefined;
  /** Its name as a viewer shows it ("vcpu0", "grant maps mapped"). */
  readonly name: string;
  readonly slices: LaidSlice[];
  readonly instants: LaidInstant[];
  /** Counter samples, `ts` ascending (counter tracks only). */
  readonly samples: { readonly ts: number; readonly value: number }[];
}

/** A process and its tracks, in display order. */
export interface LaidProcess {
  readonly pid: number;
  readonly name: string;
  readonly tracks: LaidTrack[];
}

/** One endpoint of a flow arrow: its track, the slice it binds to (if any) and its `ts`. */
export interface FlowEnd {
  readonly track: LaidTrack;
  readonly slice: LaidSlice | undefined;
  readonly ts: number;
}

/** A flow arrow, from an "s" to its "f". */
export interface LaidFlow {
  readonly name: string;
  readonly from: FlowEnd;
  readonly to: FlowEnd;
}

/** The whole layout. */
export interface TraceLayout {
  /** The global row's track, if any event is global. */
  readonly global: LaidTrack | undefined;
  readonly processes: LaidProcess[];
  readonly flows: LaidFlow[];
  /** Earliest `ts` and latest end of any event (0, 0 for an empty trace). */
  readonly start: number;
  readonly end: number;
}

interface MutableSlice {
  name: string;
  cat: string | undefined;
  start: number;
  end: number;
  row: number;
  async: boolean;
  open: boolean;
  args: Readonly<Record<string, unknown>> | undefined;
  /** Async: nesting depth within its outermost slice. */
  depth: number;
  /** Async: the outermost slice it nests in (itself for the outermost). */
  root: MutableSlice | undefined;
}

/** A track while it is built: a thread's name is known only once every metadata event is read. */
type BuildingTrack = LaidTrack & { name: string };

function newTrack(
  kind: LaidTrack["kind"],
  pid: number | undefined,
  tid: number | undefined,
  name: string,
): BuildingTrack {
  return { kind, pid, tid, name, slices: [], instants: [], samples: [] };
}

const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;

/**
 * Lays out `trace` (see the module comment). Events the format defines that a picture does not
 * show ("n", sample and object events, unknown phases) are ignored; an "E", "e" or "f" with no
 * begin to match is dropped.
 */
export function layoutTrace(trace: ChromeTrace): TraceLayout {
  const procNames = new Map<number, string>();
  const procSort = new Map<number, number>();
  const threadNames = new Map<string, string>();
  const threadSort = new Map<string, number>();
  const threads = new Map<string, BuildingTrack>();
  const procRows = new Map<number, LaidTrack>();
  const counters = new Map<string, LaidTrack>();
  const pids = new Set<number>();
  let global: LaidTrack | undefined;
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  const tkey = (pid: number, tid: number): string => `${pid}/${tid}`;
  const thread = (pid: number, tid: number): LaidTrack => {
    const k = tkey(pid, tid);
    let t = threads.get(k);
    if (t === undefined) threads.set(k, (t = newTrack("thread", pid, tid, "")));
    pids.add(pid);
    return t;
  };
  const procRow = (pid: number): LaidTrack => {
    let t = procRows.get(pid);
    if (t === undefined)
      procRows.set(pid, (t = newTrack("process", pid, undefined, "process-scoped")));
    pids.add(pid);
    return t;
  };
  const sliceTrack = new Map<MutableSlice, LaidTrack>();
  const sync: MutableSlice[] = [];
  const openB = new Map<string, MutableSlice[]>();
  const openAsync = new Map<string, MutableSlice[]>();
  const flowStarts = new Map<string, ChromeTraceEvent>();
  const flowPairs: [ChromeTraceEvent, ChromeTraceEvent][] = [];
  const slice = (e: ChromeTraceEvent, s: number, t: number, async: boolean): MutableSlice => ({
    name: e.name,
    cat: e.cat,
    start: s,
    end: t,
    row: 0,
    async,
    open: false,
    args: e.args,
    depth: 0,
    root: undefined,
  });

  for (const e of trace.traceEvents) {
    const ts = num(e.ts);
    if (e.ph === "M") {
      const a = e.args ?? {};
      if (e.name === "process_name" && typeof a.name === "string") procNames.set(e.pid, a.name);
      else if (e.name === "process_sort_index" && num(a.sort_index) !== undefined)
        procSort.set(e.pid, a.sort_index as number);
      else if (e.name === "thread_name" && typeof a.name === "string" && e.tid !== undefined)
        threadNames.set(tkey(e.pid, e.tid), a.name);
      else if (e.name === "thread_sort_index" && num(a.sort_index) !== undefined)
        threadSort.set(tkey(e.pid, e.tid ?? 0), a.sort_index as number);
      if (e.name === "process_name" || e.name === "process_sort_index") pids.add(e.pid);
      continue;
    }
    if (ts === undefined) continue;
    start = Math.min(start, ts);
    end = Math.max(end, ts);
    const tid = e.tid ?? 0;
    switch (e.ph as string) {
      case "X": {
        const s = slice(e, ts, ts + Math.max(0, num(e.dur) ?? 0), false);
        end = Math.max(end, s.end);
        sync.push(s);
        sliceTrack.set(s, thread(e.pid, tid));
        break;
      }
      case "B": {
        const s = slice(e, ts, ts, false);
        const k = tkey(e.pid, tid);
        const stack = openB.get(k);
        if (stack === undefined) openB.set(k, [s]);
        else stack.push(s);
        sync.push(s);
        sliceTrack.set(s, thread(e.pid, tid));
        break;
      }
      case "E": {
        const s = openB.get(tkey(e.pid, tid))?.pop();
        if (s !== undefined) s.end = ts;
        break;
      }
      case "b": {
        const k = `${e.pid}\u0000${e.cat ?? ""}\u0000${e.id ?? ""}`;
        const stack = openAsync.get(k) ?? [];
        const s = slice(e, ts, ts, true);
        const parent = stack[stack.length - 1];
        s.depth = parent === undefined ? 0 : parent.depth + 1;
        s.root = parent === undefined ? s : parent.root;
        stack.push(s);
        openAsync.set(k, stack);
        sliceTrack.set(s, e.tid === undefined ? procRow(e.pid) : thread(e.pid, e.tid));
        break;
      }
      case "e": {
        const stack = openAsync.get(`${e.pid}\u0000${e.cat ?? ""}\u0000${e.id ?? ""}`);
        if (stack === undefined || stack.length === 0) break;
        let i = stack.length - 1;
        while (i > 0 && stack[i]!.name !== e.name) i--;
        if (stack[i]!.name !== e.name) i = stack.length - 1;
        for (const s of stack.splice(i)) s.end = ts;
        break;
      }
      case "i":
      case "I": {
        const inst = { name: e.name, ts, args: e.args };
        if (e.s === "g")
          (global ??= newTrack("global", undefined, undefined, "global")).instants.push(inst);
        else if (e.s === "p") procRow(e.pid).instants.push(inst);
        else thread(e.pid, tid).instants.push(inst);
        break;
      }
      case "C": {
        pids.add(e.pid);
        for (const [series, v] of Object.entries(e.args ?? {})) {
          const value = num(v);
          if (value === undefined) continue;
          const id = e.id === undefined ? "" : ` ${e.id}`;
          const name = `${e.name}${id} ${series}`;
          const k = `${e.pid}\u0000${name}`;
          let t = counters.get(k);
          if (t === undefined) counters.set(k, (t = newTrack("counter", e.pid, undefined, name)));
          t.samples.push({ ts, value });
        }
        break;
      }
      case "s":
      case "t":
        if (e.ph === "s" || !flowStarts.has(`${e.cat}\u0000${e.name}\u0000${e.id}`))
          flowStarts.set(`${e.cat}\u0000${e.name}\u0000${e.id}`, e);
        break;
      case "f": {
        const k = `${e.cat}\u0000${e.name}\u0000${e.id}`;
        const from = flowStarts.get(k);
        if (from !== undefined) {
          flowStarts.delete(k);
          flowPairs.push([from, e]);
        }
        break;
      }
      default:
        break;
    }
  }
  if (start === Number.POSITIVE_INFINITY) start = end = 0;
  for (const stack of [...openB.values(), ...openAsync.values()])
    for (const s of stack) {
      s.end = end;
      s.open = true;
    }

  // Synchronous rows: nesting by containment, per thread, longest first at equal starts.
  const byTrack = new Map<LaidTrack, MutableSlice[]>();
  for (const s of sync) {
    const list = byTrack.get(sliceTrack.get(s)!);
    if (list === undefined) byTrack.set(sliceTrack.get(s)!, [s]);
    else list.push(s);
  }
  const syncRows = new Map<LaidTrack, number>();
  for (const [track, list] of byTrack) {
    list.sort((a, b) => a.start - b.start || b.end - a.end);
    const stack: MutableSlice[] = [];
    let rows = 0;
    for (const s of list) {
      while (stack.length > 0 && stack[stack.length - 1]!.end <= s.start) stack.pop();
      s.row = stack.length;
      rows = Math.max(rows, s.row + 1);
      stack.push(s);
    }
    syncRows.set(track, rows);
  }
  // Async lanes: each outermost slice and its nest take a band of rows, packed below the
  // track's synchronous rows.
  const asyncByTrack = new Map<LaidTrack, MutableSlice[]>();
  for (const [s, track] of sliceTrack)
    if (s.async) {
      const list = asyncByTrack.get(track);
      if (list === undefined) asyncByTrack.set(track, [s]);
      else list.push(s);
    }
  for (const [track, list] of asyncByTrack) {
    const base = syncRows.get(track) ?? 0;
    const roots = list.filter((s) => s.root === s).sort((a, b) => a.start - b.start);
    const height = new Map<MutableSlice, number>();
    for (const s of list) height.set(s.root!, Math.max(height.get(s.root!) ?? 0, s.depth + 1));
    const rowEnd: number[] = [];
    const rootRow = new Map<MutableSlice, number>();
    for (const r of roots) {
      const h = height.get(r)!;
      let row = 0;
      while (!rowEnd.slice(row, row + h).every((t) => t <= r.start)) row++;
      for (let i = row; i < row + h; i++) rowEnd[i] = r.end;
      rootRow.set(r, row);
    }
    for (const s of list) s.row = base + rootRow.get(s.root!)! + s.depth;
  }
  // The slices themselves (their depth and root fields stay, unseen through LaidSlice).
  for (const [s, track] of sliceTrack) track.slices.push(s);

  const processes: LaidProcess[] = [];
  const order = [...pids].sort((a, b) => (procSort.get(a) ?? a) - (procSort.get(b) ?? b) || a - b);
  for (const pid of order) {
    const tracks: LaidTrack[] = [];
    const own = procRows.get(pid);
    if (own !== undefined) tracks.push(own);
    const mine = [...threads.values()]
      .filter((t) => t.pid === pid)
      .sort((a, b) => {
        const sa = threadSort.get(tkey(pid, a.tid!)) ?? a.tid!;
        const sb = threadSort.get(tkey(pid, b.tid!)) ?? b.tid!;
        return sa - sb || a.tid! - b.tid!;
      });
    const procCounters = [...counters.values()]
      .filter((t) => t.pid === pid)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const placed = new Set<LaidTrack>();
    for (const t of mine) {
      t.name = threadNames.get(tkey(pid, t.tid!)) ?? `tid ${t.tid}`;
      tracks.push(t);
      // A counter named after this thread (the exporter's per-track occupancy) sits below it.
      for (const c of procCounters)
        if (!placed.has(c) && c.name.startsWith(`${t.name} `)) {
          placed.add(c);
          tracks.push(c);
        }
    }
    tracks.push(...procCounters.filter((c) => !placed.has(c)));
    processes.push({ pid, name: procNames.get(pid) ?? `pid ${pid}`, tracks });
  }

  const flows: LaidFlow[] = [];
  for (const [s, f] of flowPairs) {
    const from = flowEnd(s, "enclosing");
    const to = flowEnd(f, f.bp === "e" ? "enclosing" : "next");
    if (from !== undefined && to !== undefined) flows.push({ name: s.name, from, to });
  }
  return { global, processes, flows, start, end };

  function flowEnd(e: ChromeTraceEvent, bind: "enclosing" | "next"): FlowEnd | undefined {
    const track = threads.get(tkey(e.pid, e.tid ?? 0));
    const ts = num(e.ts);
    if (track === undefined || ts === undefined) return undefined;
    // Sorted by start, outermost first at equal starts (the rows' order above).
    const list = byTrack.get(track) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bind === "enclosing" ? list[mid]!.start <= ts : list[mid]!.start < ts) lo = mid + 1;
      else hi = mid;
    }
    if (bind === "next") return { track, slice: list[lo], ts };
    // The innermost slice holding ts: every slice before an outermost one ended by its start,
    // so the search stops at the first outermost slice.
    let slice: LaidSlice | undefined;
    for (let i = lo - 1; i >= 0; i--) {
      const s = list[i]!;
      if (s.end >= ts && (slice === undefined || s.row > slice.row)) slice = s;
      if (s.row === 0) break;
    }
    return { track, slice, ts };
  }
}
