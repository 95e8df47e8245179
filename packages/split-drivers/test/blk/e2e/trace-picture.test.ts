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
import { BLKIF_OP } from "@pvkit/hypervisor-sim/abi";
import { type BlkifRequest, blkifRingSpec } from "@pvkit/split-drivers";
import { parseChromeTrace, summarizeTrace } from "@pvkit/toolstack";
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
    // What the picture shows: the six requests' records, d0's and d1's vCPU, the recorder's
    // request track of each of blkfront's two queues with its occupancy counter right below it,
    // both grant counters, the notify arrows. Six lifetimes: an outer READ/WRITE slice and a
    // slice per phase but the last (4 with "notified", 2 pushed without a notification).
    expect(pic.windowRecords).toBe(56);
    expect(count(pic.svg, "process")).toBe(2);
    expect(count(pic.svg, "track")).toBe(8);
    expect([...pic.svg.matchAll(/class="track-label"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual([
      "vcpu0",
      "grant maps mapped",
      "vcpu0",
      "vbd 51712 queue 0 ring",
      "occupancy",
      "vbd 51712 queue 1 ring",
      "occupancy",
      "grant maps peers",
    ]);
    const titles = [
      ...pic.svg.matchAll(/<title>(WRITE|READ|queued|notified|consumed|responded)\n/g),
    ];
    expect(titles).toHaveLength(6 + 6 + 4 + 6 + 6);
    expect(count(pic.svg, "slice")).toBe(28 + 21);
    expect(count(pic.svg, "flow")).toBe(8);
    expect(count(pic.svg, "counter")).toBe(4);
  });

  it("has one native lifetime per blkif request, on its queue's track, and the summary ranks them", async () => {
    const pic = await blkTracePicture();
    const doc = parseChromeTrace(pic.json);
    const threads = new Map(
      doc.traceEvents
        .filter((e) => e.ph === "M" && e.name === "thread_name")
        .map((e) => [e.tid, String(e.args?.name)]),
    );
    // The outer slice of each lifetime carries its track, blkif id and phases.
    const lives = doc.traceEvents
      .filter((e) => e.ph === "b" && e.cat === "request" && e.args?.phases !== undefined)
      .map((e) => `${e.name} ${threads.get(e.tid)} id ${e.args?.id}: ${e.args?.phases}`);
    const all = "queued notified consumed responded completed";
    const quiet = "queued consumed responded completed";
    // Blkfront spreads the writes over its two queues (0, 1, 0), then the reads (1, 0, 1); the
    // second request on a queue is pushed while blkback has not yet taken the first, so the push
    // asks for no notification (req_event is still the first's) and none is sent.
    expect(lives).toEqual([
      `WRITE vbd 51712 queue 0 ring id 0: ${all}`,
      `WRITE vbd 51712 queue 1 ring id 0: ${all}`,
      `WRITE vbd 51712 queue 0 ring id 1: ${quiet}`,
      `READ vbd 51712 queue 1 ring id 1: ${all}`,
      `READ vbd 51712 queue 0 ring id 2: ${all}`,
      `READ vbd 51712 queue 1 ring id 2: ${quiet}`,
    ]);
    const summary = summarizeTrace(doc, { top: 3 });
    const from = summary.indexOf("ring requests: 6");
    expect(summary.slice(from, from + 7)).toEqual([
      "ring requests: 6",
      "  vbd 51712 queue 0 ring in d1 (blk-e2e): 3 requests, 2 sends on its port (0.67 per request)",
      "  vbd 51712 queue 1 ring in d1 (blk-e2e): 3 requests, 2 sends on its port (0.67 per request)",
      // The whole burst runs at virtual time 0: ranked by the records each request spans.
      "slowest requests:",
      // The first write spans ts 737 to 763 in the picture.
      "  WRITE (d1 (blk-e2e) vbd 51712 queue 0 ring) 0 ns at 0 ns, 26 records",
      "  READ (d1 (blk-e2e) vbd 51712 queue 1 ring) 0 ns at 0 ns, 25 records",
      "  WRITE (d1 (blk-e2e) vbd 51712 queue 1 ring) 0 ns at 0 ns, 24 records",
    ]);
  });

  it("names blkif requests by operation (RingSpec.requestLabel), an indirect one by the operation it carries", () => {
    const label = blkifRingSpec("x86_64-abi").requestLabel!;
    const req = (r: Record<string, unknown>) => r as unknown as BlkifRequest;
    expect(
      [
        req({ kind: "rw", operation: BLKIF_OP.BLKIF_OP_READ }),
        req({ kind: "rw", operation: BLKIF_OP.BLKIF_OP_WRITE }),
        req({ kind: "rw", operation: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE }),
        req({ kind: "discard", operation: BLKIF_OP.BLKIF_OP_DISCARD }),
        req({
          kind: "indirect",
          operation: BLKIF_OP.BLKIF_OP_INDIRECT,
          indirect_op: BLKIF_OP.BLKIF_OP_READ,
        }),
        req({ kind: "other", operation: 9 }),
      ].map(label),
    ).toEqual(["READ", "WRITE", "FLUSH_DISKCACHE", "DISCARD", "INDIRECT READ", "op 9"]);
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
