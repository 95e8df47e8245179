/**
 * The Chrome Trace Event Format, JSON object form, as the exporter writes it and Perfetto
 * (ui.perfetto.dev, `trace_processor`) and chrome://tracing read it: `ts` and `dur` in
 * microseconds (floats), `pid`/`tid` integers, phases "X" (complete), "i" (instant), "C"
 * (counter), "b"/"e" (async begin/end, paired by `cat` + `id`), "s"/"f" (flow start/end, paired
 * by `cat` + `name` + `id`, bound to the enclosing slice) and "M" (process/thread names).
 *
 * Also the loader for a written trace file, so a saved run can be summarised later.
 */
import { readFile } from "node:fs/promises";

/** The phases the exporter writes. */
export type ChromePhase = "X" | "i" | "C" | "b" | "e" | "s" | "f" | "M";

/** One trace event. Optional fields are present only for the phases that use them. */
export interface ChromeTraceEvent {
  readonly name: string;
  readonly cat?: string;
  readonly ph: ChromePhase;
  /** Microseconds (virtual ns / 1000). Absent on "M". */
  readonly ts?: number;
  /** Microseconds, "X" only. */
  readonly dur?: number;
  readonly pid: number;
  readonly tid?: number;
  /** Async ("b"/"e") and flow ("s"/"f") id. */
  readonly id?: string;
  /** Instant scope: "t" thread, "p" process, "g" global. */
  readonly s?: "t" | "p" | "g";
  /** Flow binding point; "e" binds to the enclosing slice. */
  readonly bp?: "e";
  readonly args?: Readonly<Record<string, unknown>>;
}

/** The whole trace document. */
export interface ChromeTrace {
  readonly traceEvents: readonly ChromeTraceEvent[];
  /** "ns": viewers show nanoseconds (`ts` stays in µs). */
  readonly displayTimeUnit: "ns" | "ms";
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** A file that is not a trace this loader understands. */
export class TraceFormatError extends Error {
  override readonly name = "TraceFormatError";
}

/**
 * Serialises a trace: one event per line (diff-friendly, still one JSON document), keys in the
 * order the objects were built, so the same trace is always the same bytes.
 */
export function stringifyChromeTrace(trace: ChromeTrace): string {
  const events = trace.traceEvents.map((e) => JSON.stringify(e));
  const head = `{"displayTimeUnit":${JSON.stringify(trace.displayTimeUnit)}`;
  const meta = trace.metadata === undefined ? "" : `,"metadata":${JSON.stringify(trace.metadata)}`;
  return `${head}${meta},"traceEvents":[\n${events.join(",\n")}\n]}\n`;
}

/**
 * Parses a trace document (the JSON object form; the bare-array form is accepted too and given
 * `displayTimeUnit` "ms", the format's default).
 * @throws TraceFormatError if `text` is not JSON or not a trace (no `traceEvents` array, or an
 *   event without a string `ph` and `name` or a numeric `pid`).
 */
export function parseChromeTrace(text: string): ChromeTrace {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TraceFormatError(`not JSON: ${(err as Error).message}`);
  }
  const obj = Array.isArray(doc) ? { traceEvents: doc, displayTimeUnit: "ms" } : doc;
  if (
    obj === null ||
    typeof obj !== "object" ||
    !Array.isArray((obj as { traceEvents?: unknown }).traceEvents)
  ) {
    throw new TraceFormatError("not a trace: no traceEvents array");
  }
  const o = obj as { traceEvents: unknown[]; displayTimeUnit?: unknown; metadata?: unknown };
  o.traceEvents.forEach((e, i) => {
    const ev = e as Record<string, unknown> | null;
    if (
      ev === null ||
      typeof ev !== "object" ||
      typeof ev.ph !== "string" ||
      typeof ev.name !== "string" ||
      typeof ev.pid !== "number"
    ) {
      throw new TraceFormatError(
        `traceEvents[${i}] is not an event (needs string ph and name, numeric pid)`,
      );
    }
  });
  const unit = o.displayTimeUnit === "ns" ? "ns" : "ms";
  const metadata =
    o.metadata !== null && typeof o.metadata === "object"
      ? (o.metadata as Record<string, unknown>)
      : undefined;
  return {
    traceEvents: o.traceEvents as ChromeTraceEvent[],
    displayTimeUnit: unit,
    ...(metadata ? { metadata } : {}),
  };
}

/**
 * Reads and parses a trace file written by {@link stringifyChromeTrace} (or any Chrome JSON trace).
 * @throws TraceFormatError (see {@link parseChromeTrace}); the fs error if the file cannot be read.
 */
export async function loadChromeTrace(path: string): Promise<ChromeTrace> {
  return parseChromeTrace(await readFile(path, "utf8"));
}
