/**
 * `pvkit trace render <file>`: draws a trace file (Chrome Trace Event JSON, as `--trace` writes
 * it) as an SVG picture with the toolstack's `renderTraceSvg`, the whole trace or a window of it.
 * No host needed.
 */
import { writeFile } from "node:fs/promises";
import { CliError } from "./cli-error.js";
import { loadTraceFile } from "./client-commands.js";
import type { Out } from "./output.js";

/** Options of {@link traceRender}, as commander parses them. */
export interface TraceRenderOptions {
  /** Where to write the SVG. Default: the trace's path with `.json` replaced by `.svg`. */
  readonly out?: string;
  /** Window start and end, in the trace's `ts` (µs; a record's position on the sequence timeline). */
  readonly from?: number;
  readonly to?: number;
  /** Picture width, px. */
  readonly width: number;
  readonly title?: string;
}

/** The SVG's default path: `run.json` → `run.svg`, any other name gets `.svg` appended. */
export function svgPathFor(file: string): string {
  return file.endsWith(".json") ? `${file.slice(0, -".json".length)}.svg` : `${file}.svg`;
}

/**
 * Renders `file` to SVG and writes it (see the module comment); prints where, and the window.
 * @throws CliError if the file is missing or not a trace, the window is empty, or the SVG
 *   cannot be written.
 */
export async function traceRender(file: string, o: TraceRenderOptions, out: Out): Promise<void> {
  const t = await loadTraceFile(file);
  const { renderTraceSvg } = await import("@pvkit/toolstack");
  let svg: string;
  try {
    svg = renderTraceSvg(t, {
      width: o.width,
      ...(o.from !== undefined ? { from: o.from } : {}),
      ...(o.to !== undefined ? { to: o.to } : {}),
      ...(o.title !== undefined ? { title: o.title } : {}),
    });
  } catch (err) {
    if (err instanceof RangeError) throw new CliError(`trace file ${file}: ${err.message}`);
    throw err;
  }
  const dest = o.out ?? svgPathFor(file);
  try {
    await writeFile(dest, svg);
  } catch (err) {
    throw new CliError(`cannot write ${dest}: ${(err as Error).message}`);
  }
  const slices = svg.match(/class="slice"/g)?.length ?? 0;
  const flows = svg.match(/class="flow"/g)?.length ?? 0;
  const window =
    o.from === undefined && o.to === undefined
      ? "the whole trace"
      : `ts ${o.from ?? "start"} to ${o.to ?? "end"} µs`;
  out.line(`wrote ${dest}: ${window}, ${slices} slices, ${flows} flow arrows`);
}
