// The picture of a blk run in docs/testing.md can't go stale: the run is made again, its trace
// and picture compared byte for byte with docs/img/blk-trace.{json,svg}. The trace is also
// checked against the Chrome Trace Event Format (chrome-validator.ts), and opened in Perfetto's
// own trace processor where one is installed: neither npm nor Debian's packages carry it, so
// that test runs only on a machine that has `trace_processor_shell` (or names it in
// PERFETTO_TRACE_PROCESSOR), and is skipped elsewhere, this repository's CI included.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateChromeTrace } from "../../../../toolstack/test/trace/chrome-validator.js";
import { PICTURE_COMMAND, PICTURE_FILES, blkTracePicture } from "./trace-picture.js";

/** Perfetto's trace processor: $PERFETTO_TRACE_PROCESSOR, else trace_processor_shell on PATH. */
function traceProcessor(): string | undefined {
  const named = process.env.PERFETTO_TRACE_PROCESSOR;
  if (named) return named;
  for (const dir of (process.env.PATH ?? "").split(delimiter))
    for (const exe of ["trace_processor_shell", "trace_processor"])
      if (dir !== "" && existsSync(join(dir, exe))) return join(dir, exe);
  return undefined;
}

/** One SQL query's single integer answer (the last line of the shell's output). */
function query(tp: string, sql: string): number {
  const dir = join(PICTURE_FILES.json, "..");
  const r = spawnSync(tp, ["-Q", sql, PICTURE_FILES.json], { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${tp} failed (${r.status}): ${r.stderr}`);
  const last = r.stdout.trim().split("\n").pop() ?? "";
  return Number(last.replace(/"/g, ""));
}

const TP = traceProcessor();

const count = (svg: string, cls: string): number =>
  svg.match(new RegExp(`class="${cls}"`, "g"))?.length ?? 0;

describe("blk e2e: the trace picture in the docs", () => {
  it("is the picture of the committed trace, which is this run's trace, valid Chrome JSON", async () => {
    const pic = await blkTracePicture();
    expect(pic.findings).toBe(0);
    expect(validateChromeTrace(pic.json)).toEqual([]);
    const stale = `stale: run \`${PICTURE_COMMAND}\` and commit docs/img/`;
    expect(
      pic.json === readFileSync(PICTURE_FILES.json, "utf8"),
      `${PICTURE_FILES.json} ${stale}`,
    ).toBe(true);
    expect(
      pic.svg === readFileSync(PICTURE_FILES.svg, "utf8"),
      `${PICTURE_FILES.svg} ${stale}`,
    ).toBe(true);
    // What the picture shows: the six requests' records, d0's and d1's vCPU, the test's request
    // track (six lifetimes, each with its "queued" phase), both grant counters, the notify arrows.
    expect(pic.windowRecords).toBe(40);
    expect(count(pic.svg, "process")).toBe(2);
    expect(count(pic.svg, "track")).toBe(5);
    expect(pic.svg.match(/<title>(write|read|queued)\n/g)?.length).toBe(12);
    expect(count(pic.svg, "slice")).toBe(12 + 21);
    expect(count(pic.svg, "flow")).toBe(8);
    expect(count(pic.svg, "counter")).toBe(2);
  });

  it.skipIf(TP === undefined)(
    "opens in Perfetto's trace processor (run only where one is installed): a slice per X and async begin, a flow per arrow",
    () => {
      const doc = JSON.parse(readFileSync(PICTURE_FILES.json, "utf8")) as {
        traceEvents: { ph: string }[];
      };
      const of = (ph: string) => doc.traceEvents.filter((e) => e.ph === ph).length;
      expect(query(TP!, "select count(*) as n from slice")).toBe(of("X") + of("b"));
      expect(query(TP!, "select count(*) as n from flow")).toBe(of("s"));
    },
  );
});
