// A strict validator of the Chrome Trace Event Format (JSON object form), written from the
// format's documentation ("Trace Event Format", the Google document Perfetto and chrome://tracing
// implement) and from what Perfetto's JSON importer requires (json_trace_parser_impl.cc: `dur`
// on "X", `id` on async and flow events, `s` scope of instants, numeric counter args). No
// Perfetto trace processor installs from npm, so tests validate produced files with this.
//
// It returns a list of problems (empty: valid), each naming the event index.

const PHASES = new Set(["X", "B", "E", "i", "I", "C", "b", "e", "n", "s", "t", "f", "M"]);
const METADATA = new Set([
  "process_name",
  "thread_name",
  "process_sort_index",
  "thread_sort_index",
  "process_labels",
]);
const TOP_KEYS = new Set([
  "traceEvents",
  "displayTimeUnit",
  "metadata",
  "otherData",
  "systemTraceEvents",
]);
const EVENT_KEYS = new Set([
  "name",
  "cat",
  "ph",
  "ts",
  "dur",
  "pid",
  "tid",
  "id",
  "s",
  "bp",
  "args",
  "tts",
  "tdur",
  "id2",
  "scope",
]);

type Ev = Record<string, unknown>;

function isUint(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

function isTs(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

/** Validates the JSON text of a trace: parse, then {@link validateChromeTraceObject}. */
export function validateChromeTrace(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return [`not JSON: ${(err as Error).message}`];
  }
  return validateChromeTraceObject(doc);
}

export function validateChromeTraceObject(doc: unknown): string[] {
  const problems: string[] = [];
  const bad = (i: number, what: string): void => void problems.push(`traceEvents[${i}]: ${what}`);
  if (doc === null || typeof doc !== "object" || Array.isArray(doc))
    return ["top level is not an object"];
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top))
    if (!TOP_KEYS.has(k)) problems.push(`unknown top-level key ${k}`);
  if (!Array.isArray(top.traceEvents)) return [...problems, "traceEvents is not an array"];
  if (
    top.displayTimeUnit !== undefined &&
    top.displayTimeUnit !== "ns" &&
    top.displayTimeUnit !== "ms"
  )
    problems.push(`displayTimeUnit ${String(top.displayTimeUnit)}`);
  if (top.metadata !== undefined && (top.metadata === null || typeof top.metadata !== "object"))
    problems.push("metadata is not an object");

  const procNamed = new Set<number>();
  const threadNamed = new Set<string>();
  const lastTs = new Map<string, number>();
  /** Open async slices per "pid cat id": stack of names. */
  const asyncOpen = new Map<string, string[]>();
  /** Slices per "pid tid": [start, end] in µs. */
  const slices = new Map<string, [number, number][]>();
  const flowStart = new Map<string, number>();
  const flowEnd = new Set<string>();
  let seenTimed = false;

  for (const [i, raw] of (top.traceEvents as unknown[]).entries()) {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      bad(i, "not an object");
      continue;
    }
    const e = raw as Ev;
    for (const k of Object.keys(e)) if (!EVENT_KEYS.has(k)) bad(i, `unknown key ${k}`);
    const ph = e.ph;
    if (typeof ph !== "string" || !PHASES.has(ph)) {
      bad(i, `bad ph ${String(ph)}`);
      continue;
    }
    if (typeof e.name !== "string" || e.name.length === 0) bad(i, "name missing");
    if (e.cat !== undefined && typeof e.cat !== "string") bad(i, "cat is not a string");
    if (!isUint(e.pid)) bad(i, "pid is not a u32");
    if (e.tid !== undefined && !isUint(e.tid)) bad(i, "tid is not a u32");
    if (
      e.args !== undefined &&
      (e.args === null || typeof e.args !== "object" || Array.isArray(e.args))
    )
      bad(i, "args is not an object");
    const pid = e.pid as number;
    const thread = `${pid} ${String(e.tid)}`;

    if (ph === "M") {
      if (seenTimed) bad(i, "metadata after timed events");
      if (!METADATA.has(e.name as string)) bad(i, `unknown metadata ${String(e.name)}`);
      const args = (e.args ?? {}) as Ev;
      if (e.name === "process_name" || e.name === "thread_name") {
        if (typeof args.name !== "string" || args.name.length === 0)
          bad(i, `${String(e.name)} without args.name`);
      }
      if (e.name === "process_sort_index" || e.name === "thread_sort_index") {
        if (!Number.isInteger(args.sort_index))
          bad(i, `${String(e.name)} without integer sort_index`);
      }
      if (e.name === "process_name") procNamed.add(pid);
      if (e.name === "thread_name") {
        if (e.tid === undefined) bad(i, "thread_name without tid");
        threadNamed.add(thread);
      }
      continue;
    }

    seenTimed = true;
    if (!isTs(e.ts)) {
      bad(i, `ts ${String(e.ts)} is not a non-negative number`);
      continue;
    }
    const ts = e.ts;
    if (!procNamed.has(pid)) bad(i, `pid ${pid} has no process_name`);
    const scoped =
      ph === "C" || ph === "b" || ph === "e" || ph === "n" || (ph === "i" && e.s !== "t");
    if (!scoped) {
      if (e.tid === undefined) bad(i, `${ph} without tid`);
      else if (!threadNamed.has(thread)) bad(i, `thread ${thread} has no thread_name`);
    }
    // Monotonic per track (the exporter writes events sorted by ts).
    const track = scoped
      ? `${pid} ${ph === "C" ? `C:${String(e.name)}` : ph === "i" ? `i:${String(e.s)}` : `async:${String(e.cat)}:${String(e.id)}`}`
      : thread;
    const prev = lastTs.get(track);
    if (prev !== undefined && ts < prev)
      bad(i, `ts ${ts} goes back on track ${track} (was ${prev})`);
    lastTs.set(track, ts);

    switch (ph) {
      case "X": {
        if (!isTs(e.dur)) {
          bad(i, "X without a non-negative dur");
          continue;
        }
        const list = slices.get(thread) ?? [];
        list.push([ts, ts + (e.dur as number)]);
        slices.set(thread, list);
        break;
      }
      case "i":
      case "I":
        if (e.s !== undefined && e.s !== "t" && e.s !== "p" && e.s !== "g")
          bad(i, `instant scope ${String(e.s)}`);
        break;
      case "C": {
        const args = e.args as Ev | undefined;
        if (args === undefined || Object.keys(args).length === 0) bad(i, "C without args");
        else
          for (const [k, v] of Object.entries(args))
            if (typeof v !== "number" || !Number.isFinite(v))
              bad(i, `counter ${k} is not a number`);
        break;
      }
      case "b":
      case "e":
      case "n": {
        if (typeof e.cat !== "string") bad(i, `${ph} without cat`);
        if (typeof e.id !== "string" && typeof e.id !== "number") {
          bad(i, `${ph} without id`);
          continue;
        }
        const key = `${pid} ${String(e.cat)} ${String(e.id)}`;
        const stack = asyncOpen.get(key) ?? [];
        if (ph === "b") stack.push(e.name as string);
        else if (ph === "e") {
          const top = stack.pop();
          if (top === undefined) bad(i, `e ${String(e.name)} id ${String(e.id)} without an open b`);
          else if (top !== e.name)
            bad(i, `e ${String(e.name)} closes b ${top} (id ${String(e.id)})`);
        }
        asyncOpen.set(key, stack);
        break;
      }
      case "s":
      case "t":
      case "f": {
        if (typeof e.cat !== "string") bad(i, `${ph} without cat`);
        if (typeof e.id !== "string" && typeof e.id !== "number") {
          bad(i, `${ph} without id`);
          continue;
        }
        // Flow events bind to the slice enclosing them on their thread (for "f": with bp "e").
        const enclosing = (slices.get(thread) ?? []).some(([a, b]) => a <= ts && ts <= b);
        if (!enclosing) bad(i, `${ph} id ${String(e.id)} has no enclosing slice on ${thread}`);
        const key = `${String(e.cat)} ${String(e.name)} ${String(e.id)}`;
        if (ph === "s") {
          if (flowStart.has(key)) bad(i, `flow ${key} started twice`);
          flowStart.set(key, ts);
        } else if (ph === "f") {
          if (e.bp !== "e") bad(i, "f without bp e");
          const start = flowStart.get(key);
          if (start === undefined) bad(i, `flow ${key} ends without a start`);
          else if (ts < start) bad(i, `flow ${key} ends before it starts`);
          if (flowEnd.has(key)) bad(i, `flow ${key} ended twice`);
          flowEnd.add(key);
        }
        break;
      }
    }
  }
  for (const [key, stack] of asyncOpen)
    if (stack.length > 0) problems.push(`async ${key}: ${stack.join(", ")} never ended`);
  for (const key of flowStart.keys())
    if (!flowEnd.has(key)) problems.push(`flow ${key} never ends`);
  return problems;
}
