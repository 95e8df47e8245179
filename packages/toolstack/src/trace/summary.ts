/**
 * A text summary of a trace: the hottest hypercalls, notifications per xenstore request (per
 * domain) and per ring request (on the recorder's ring tracks, the frontend's sends on the
 * ring's port; on tracks drivers marked themselves, all the domain's sends), the slowest
 * requests (on a sequence timeline, where a burst runs at one virtual instant, ties in ns are
 * ranked by the records a request spans, which each row shows) and spans. It reads the exported Chrome trace (chrome-export.ts), so it works the same on a
 * live recording and on a trace file loaded with `loadChromeTrace` (what `pvkit trace <file>`
 * prints).
 */
import type { ChromeTrace, ChromeTraceEvent } from "./chrome-format.js";

/** Options of {@link summarizeTrace}. */
export interface TraceSummaryOptions {
  /** Rows per ranking (hypercalls, requests, spans). Default 10. */
  readonly top?: number;
}

/** µs → integer ns (ts/dur were written as ns / 1000). */
function ns(us: number): number {
  return Math.round(us * 1000);
}

function pct(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1)}%`;
}

function ratio(a: number, b: number): string {
  return b === 0 ? "-" : (a / b).toFixed(2);
}

function byCountThenName(a: [string, number], b: [string, number]): number {
  return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

interface Slow {
  readonly name: string;
  readonly where: string;
  readonly startNs: number;
  readonly durNs: number;
  /** Sequence timeline: records from its start to its end (ts steps), the tie-break after ns. */
  readonly steps?: number;
  readonly note: string;
}

function slowLines(title: string, rows: Slow[], top: number): string[] {
  if (rows.length === 0) return [];
  rows.sort(
    (a, b) =>
      b.durNs - a.durNs ||
      (b.steps ?? 0) - (a.steps ?? 0) ||
      a.startNs - b.startNs ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  return [
    `${title}:`,
    ...rows
      .slice(0, top)
      .map(
        (r) =>
          `  ${r.name} (${r.where}) ${r.durNs} ns at ${r.startNs} ns${r.steps === undefined ? "" : `, ${r.steps} record${r.steps === 1 ? "" : "s"}`}${r.note}`,
      ),
  ];
}

/**
 * Summarises `trace` in lines of text (no trailing newlines).
 * @throws RangeError if `top` is not a positive integer.
 */
export function summarizeTrace(trace: ChromeTrace, opts: TraceSummaryOptions = {}): string[] {
  const top = opts.top ?? 10;
  if (!Number.isSafeInteger(top) || top < 1)
    throw new RangeError(`top must be a positive integer, got ${top}`);
  const events = trace.traceEvents;
  const procs = new Map<number, string>();
  const threads = new Map<number, string>();
  for (const e of events) {
    if (e.ph !== "M") continue;
    const name = String(e.args?.name ?? "");
    if (e.name === "process_name") procs.set(e.pid, name);
    if (e.name === "thread_name" && e.tid !== undefined) threads.set(e.tid, name);
  }
  const proc = (pid: number): string => procs.get(pid) ?? `pid ${pid}`;
  const timed = events.filter(
    (e): e is ChromeTraceEvent & { ts: number } => e.ph !== "M" && typeof e.ts === "number",
  );
  const lines: string[] = [];
  const m = trace.metadata ?? {};
  // A sequence timeline (chrome-export.ts) keeps virtual time in args: vt_ns (and a span's vt_end_ns).
  const sequence = m.timeline === "sequence";
  const startNs = (e: ChromeTraceEvent & { ts: number }): number =>
    sequence ? (typeof e.args?.vt_ns === "number" ? e.args.vt_ns : 0) : ns(e.ts);
  const endNs = (e: ChromeTraceEvent & { ts: number }): number =>
    sequence
      ? typeof e.args?.vt_end_ns === "number"
        ? e.args.vt_end_ns
        : startNs(e)
      : ns(e.ts + (e.dur ?? 0));
  const virtual = sequence ? timed.filter((e) => typeof e.args?.vt_ns === "number") : timed;
  let first = virtual.length > 0 ? Infinity : 0;
  let last = 0;
  for (const e of virtual) {
    first = Math.min(first, startNs(e));
    last = Math.max(last, endNs(e));
  }
  const seed = typeof m.seed === "number" ? `, seed ${m.seed}` : "";
  const dropped = typeof m.dropped === "number" ? `, ${m.dropped} records dropped` : "";
  lines.push(`trace: ${timed.length} events, virtual time ${first}..${last} ns${dropped}${seed}`);

  // Hottest hypercalls.
  const calls = timed.filter((e) => e.ph === "X" && e.cat === "hypercall");
  const byOp = new Map<string, number>();
  for (const e of calls) byOp.set(e.name, (byOp.get(e.name) ?? 0) + 1);
  lines.push(`hypercalls: ${calls.length}`);
  for (const [op, n] of [...byOp].sort(byCountThenName).slice(0, top))
    lines.push(`  ${op} ${n} (${pct(n, calls.length)})`);

  // Notifications per xenstore request and per ring request, per domain.
  const sends = new Map<number, number>();
  for (const e of calls)
    if (e.name === "EVTCHNOP_send") sends.set(e.pid, (sends.get(e.pid) ?? 0) + 1);
  const xsReqs = new Map<number, number>();
  for (const e of timed) {
    if (e.ph === "X" && e.cat === "xenstore" && e.args?.conn === "domain") {
      const pid = Number(e.args.domid) + 1;
      xsReqs.set(pid, (xsReqs.get(pid) ?? 0) + 1);
    }
  }
  const totalSends = [...sends.values()].reduce((a, b) => a + b, 0);
  const flows = timed.filter((e) => e.ph === "f").length;
  lines.push(
    `notifications: ${totalSends} EVTCHNOP_send, ${flows} linked to the upcall they caused`,
  );
  for (const pid of [...new Set([...sends.keys(), ...xsReqs.keys()])].sort((a, b) => a - b)) {
    const s = sends.get(pid) ?? 0;
    const x = xsReqs.get(pid) ?? 0;
    lines.push(
      `  ${proc(pid)}: ${s} sends, ${x} xenstore requests over its ring (${ratio(s, x)} sends per request)`,
    );
  }

  // Request lifetimes: the outer async slice of each id is its first "b" and last "e".
  const lives = new Map<
    string,
    { b: ChromeTraceEvent & { ts: number }; e?: ChromeTraceEvent & { ts: number } }
  >();
  for (const e of timed) {
    if (e.cat !== "request" || e.id === undefined) continue;
    const id = String(e.id);
    if (e.ph === "b" && !lives.has(id)) lives.set(id, { b: e });
    else if (e.ph === "e" && lives.has(id)) lives.get(id)!.e = e;
  }
  if (lives.size > 0) {
    const perTrack = new Map<number, number>();
    for (const { b } of lives.values())
      if (b.tid !== undefined) perTrack.set(b.tid, (perTrack.get(b.tid) ?? 0) + 1);
    // The recorder's ring tracks (ring-lifetimes.ts): a "notified" phase names the frontend's
    // send on the ring's port by its trace seq; one send may notify several requests.
    const ringSends = new Map<number, Set<number>>();
    for (const e of timed) {
      if (e.cat !== "request" || e.ph !== "b" || e.name !== "notified" || e.tid === undefined)
        continue;
      const seq = e.args?.seq;
      if (typeof seq !== "number") continue;
      let set = ringSends.get(e.tid);
      if (set === undefined) ringSends.set(e.tid, (set = new Set()));
      set.add(seq);
    }
    lines.push(`ring requests: ${lives.size}`);
    for (const [tid, n] of [...perTrack].sort((a, b) => a[0] - b[0])) {
      const pid = Math.floor(tid / 1000);
      const track = `  ${threads.get(tid) ?? `tid ${tid}`} in ${proc(pid)}: ${n} requests`;
      const own = ringSends.get(tid);
      if (own !== undefined) {
        lines.push(`${track}, ${own.size} sends on its port (${ratio(own.size, n)} per request)`);
        continue;
      }
      const s = sends.get(pid) ?? 0;
      lines.push(`${track}, ${s} sends by the domain (${ratio(s, n)} per request)`);
    }
  }
  const slowReqs: Slow[] = [];
  for (const { b, e } of lives.values()) {
    if (e === undefined) continue;
    const note = b.args?.incomplete === true ? " (incomplete)" : "";
    slowReqs.push({
      name: b.name,
      where: `${proc(b.pid)} ${threads.get(b.tid ?? -1) ?? ""}`.trim(),
      startNs: startNs(b),
      durNs: startNs(e) - startNs(b),
      ...(sequence ? { steps: Math.round(e.ts - b.ts) } : {}),
      note,
    });
  }
  lines.push(...slowLines("slowest requests", slowReqs, top));
  const spans: Slow[] = timed
    .filter((e) => e.ph === "X" && e.cat === "span")
    .map((e) => ({
      name: e.name,
      where: `${proc(e.pid)} ${threads.get(e.tid ?? -1) ?? ""}`.trim(),
      startNs: startNs(e),
      durNs: endNs(e) - startNs(e),
      note: "",
    }));
  lines.push(...slowLines("slowest spans", spans, top));
  return lines;
}
