// renderTraceSvg: exact counts of what it draws (slice boxes, instants, flow arrows, counter
// graphs, tracks, process bands, legend items) on a hand-made trace that uses every phase, the
// window and label rules with pinned coordinates, and a recorded run drawn whole, whose
// counts must equal the exported document's events of each kind.
import { describe, expect, it } from "vitest";
import {
  type ChromeTrace,
  type ChromeTraceEvent,
  exportChromeTrace,
  renderTraceSvg,
} from "@pvkit/toolstack";
import { runPingScenario } from "./scenario.js";

const count = (svg: string, cls: string): number =>
  svg.match(new RegExp(`class="${cls}"`, "g"))?.length ?? 0;

/** Every `<rect class="slice" …>` as { x, width, y }, in document order. */
function sliceRects(svg: string): { x: number; w: number; y: number }[] {
  return [...svg.matchAll(/<rect class="slice" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"/g)].map(
    (m) => ({ x: Number(m[1]), y: Number(m[2]), w: Number(m[3]) }),
  );
}

/** The labels drawn inside boxes: the `<text>` right after each slice. */
function sliceLabels(svg: string): string[] {
  return [
    ...svg.matchAll(/<\/rect><text x="[\d.]+" y="[\d.]+" fill="#[0-9a-f]+">([^<]*)<\/text>/g),
  ].map((m) => m[1]!);
}

const M = (
  name: string,
  pid: number,
  args: Record<string, unknown>,
  tid?: number,
): ChromeTraceEvent =>
  ({ name, ph: "M", pid, ...(tid === undefined ? {} : { tid }), args }) as ChromeTraceEvent;

/** Two processes; pid 1 with two threads, pid 2 with one; every phase the renderer draws. */
function handMade(): ChromeTrace {
  const ev = (e: Record<string, unknown>): ChromeTraceEvent => e as unknown as ChromeTraceEvent;
  return {
    displayTimeUnit: "ns",
    traceEvents: [
      M("process_name", 1, { name: "d0 (Domain-0)" }),
      M("thread_name", 1, { name: "vcpu0" }, 10),
      M("thread_name", 1, { name: "vcpu1" }, 11),
      M("process_name", 2, { name: "d1 <guest> & co" }),
      M("thread_name", 2, { name: "blk requests" }, 20),
      // vcpu0: an outer slice with two nested ones (rows 0 and 1), a B/E pair after it.
      ev({ name: "outer", ph: "X", ts: 0, dur: 50, pid: 1, tid: 10 }),
      ev({ name: "EVTCHNOP_send", ph: "X", ts: 10, dur: 10, pid: 1, tid: 10 }),
      ev({ name: "in", ph: "X", ts: 30, dur: 1, pid: 1, tid: 10 }),
      ev({ name: "s", cat: "notify", ph: "s", ts: 12, pid: 1, tid: 10, id: "1" }),
      ev({ name: "be", ph: "B", ts: 60, pid: 1, tid: 10 }),
      ev({ name: "be", ph: "E", ts: 70, pid: 1, tid: 10 }),
      // vcpu1: the flow's end, bound to the enclosing slice ("bp": "e"); a thread instant.
      ev({ name: "upcall", ph: "X", ts: 40, dur: 5, pid: 1, tid: 11 }),
      ev({ name: "s", cat: "notify", ph: "f", ts: 41, pid: 1, tid: 11, id: "1", bp: "e" }),
      ev({ name: "raise", ph: "i", ts: 35, pid: 1, tid: 11, s: "t" }),
      // A second flow whose end binds to the next slice (no "bp"), and one never finished.
      ev({ name: "s", cat: "notify", ph: "s", ts: 61, pid: 1, tid: 10, id: "2" }),
      ev({ name: "s", cat: "notify", ph: "f", ts: 75, pid: 1, tid: 11, id: "2" }),
      ev({ name: "late", ph: "X", ts: 80, dur: 5, pid: 1, tid: 11 }),
      ev({ name: "s", cat: "notify", ph: "s", ts: 90, pid: 1, tid: 11, id: "3" }),
      // pid 2: two overlapping async requests, each with a nested phase; a process instant.
      ev({ name: "write", cat: "request", ph: "b", ts: 5, pid: 2, tid: 20, id: "a" }),
      ev({ name: "queued", cat: "request", ph: "b", ts: 5, pid: 2, tid: 20, id: "a" }),
      ev({ name: "write", cat: "request", ph: "b", ts: 15, pid: 2, tid: 20, id: "b" }),
      ev({ name: "queued", cat: "request", ph: "e", ts: 25, pid: 2, tid: 20, id: "a" }),
      ev({ name: "write", cat: "request", ph: "e", ts: 30, pid: 2, tid: 20, id: "a" }),
      ev({ name: "write", cat: "request", ph: "e", ts: 45, pid: 2, tid: 20, id: "b" }),
      ev({ name: "domain created", ph: "i", ts: 2, pid: 2, s: "p" }),
      // Counters: d0's "maps" has two series, "held" nonzero, "zero" always 0 (not drawn).
      ev({ name: "maps", ph: "C", ts: 0, pid: 1, args: { held: 0, zero: 0 } }),
      ev({ name: "maps", ph: "C", ts: 20, pid: 1, args: { held: 2, zero: 0 } }),
      ev({ name: "maps", ph: "C", ts: 70, pid: 1, args: { held: 1, zero: 0 } }),
      // A global instant: its own row on top.
      ev({ name: "mark", ph: "i", ts: 50, pid: 1, s: "g" }),
    ],
  };
}

describe("renderTraceSvg", () => {
  it("draws every slice, instant, flow and nonzero counter of a hand-made trace, tracks by name", () => {
    const svg = renderTraceSvg(handMade(), { width: 1000, from: 0, to: 100 });
    // Slices: 3 on vcpu0 + B/E + upcall + late + 2 writes + 1 nested queued.
    expect(count(svg, "slice")).toBe(9);
    // Instants: raise, the process instant, the global mark.
    expect(count(svg, "instant")).toBe(3);
    // Flows 1 and 2 (3 has no end).
    expect(count(svg, "flow")).toBe(2);
    expect(count(svg, "counter")).toBe(1);
    // Tracks: global; d0 vcpu0, vcpu1, "maps held"; d1's process row and "blk requests".
    expect(count(svg, "track")).toBe(6);
    expect(count(svg, "process")).toBe(3);
    // Legend: 9 distinct names (outer EVTCHNOP_send in be upcall late write queued raise
    // "domain created" mark = 11) and one flow name.
    expect(count(svg, "legend-item")).toBe(12);
    for (const name of ["vcpu0", "vcpu1", "maps held", "blk requests", "d0 (Domain-0)"])
      expect(svg).toContain(`>${name}</text>`);
    expect(svg).not.toContain("maps zero");
    // Names are escaped.
    expect(svg).toContain(">d1 &lt;guest&gt; &amp; co</text>");
    expect(svg).not.toContain("<guest>");
  });

  it("places boxes on the window's scale, nested ones a row down, overlapping async in lanes", () => {
    // width 1000: the plot spans x 202 to 988 (786 px) for ts 0 to 100.
    const rects = sliceRects(renderTraceSvg(handMade(), { width: 1000, from: 0, to: 100 }));
    const outer = rects[0]!;
    const send = rects[1]!;
    expect(outer).toEqual({ x: 202, w: 393, y: outer.y });
    expect(send).toEqual({ x: 280.6, w: 78.6, y: outer.y + 18 });
    // The two writes: b starts while a is open, so b is a lane band (2 rows) lower; a's nested
    // "queued" is a row under a.
    const writes = rects.filter((_, i) => i >= 6);
    expect(writes.map((r) => r.x)).toEqual([241.3, 241.3, 319.9]);
    expect(writes[1]!.y - writes[0]!.y).toBe(18);
    expect(writes[2]!.y - writes[0]!.y).toBe(36);
  });

  it("draws only what meets the window, clipped to it", () => {
    const svg = renderTraceSvg(handMade(), { width: 1000, from: 42, to: 72 });
    // In: outer (0–50), upcall (40–45), be (60–70) and write b (15–45); out: the nested vcpu0
    // slices, write a and its phase (5–30), late (80); both flows have an end outside.
    expect(count(svg, "slice")).toBe(4);
    expect(count(svg, "flow")).toBe(0);
    // Clipped: outer starts at the plot's left edge and ends at ts 50.
    expect(sliceRects(svg)[0]).toMatchObject({ x: 202, w: 209.6 });
    expect(count(svg, "instant")).toBe(1);
  });

  it("labels a box with its name where it fits, cut with … where 3 or more characters fit", () => {
    const labels = (width: number) =>
      sliceLabels(renderTraceSvg(handMade(), { width, from: 0, to: 100 }));
    // At 1000 px (7.86 px per µs, 4 px kept free): EVTCHNOP_send's 78.6 px box holds 11
    // characters of 6.6 px, upcall's 39.3 px 5; in's 7.9 px none.
    expect(labels(1000)).toEqual([
      "outer",
      "EVTCHNOP_s…",
      "be",
      "upca…",
      "late",
      "write",
      "queued",
      "write",
    ]);
    // At 2000 px every name fits, "in" too (2 characters in a 17.9 px box).
    expect(labels(2000)).toEqual([
      "outer",
      "EVTCHNOP_send",
      "in",
      "be",
      "upcall",
      "late",
      "write",
      "queued",
      "write",
    ]);
  });

  it("is deterministic and rejects a bad width or an empty window", () => {
    expect(renderTraceSvg(handMade())).toBe(renderTraceSvg(handMade()));
    expect(() => renderTraceSvg(handMade(), { width: 300 })).toThrow(RangeError);
    expect(() => renderTraceSvg(handMade(), { from: 5, to: 5 })).toThrow(/window 5–5 µs is empty/);
    expect(() => renderTraceSvg({ displayTimeUnit: "ns", traceEvents: [] })).toThrow(RangeError);
  });

  it("draws a recorded run whole: one box per slice event, a tick per instant, an arrow per flow", async () => {
    const { rec } = await runPingScenario();
    const trace = exportChromeTrace(rec.snapshot());
    const svg = renderTraceSvg(trace);
    const of = (ph: string) => trace.traceEvents.filter((e) => e.ph === ph).length;
    expect(count(svg, "slice")).toBe(of("X") + of("b"));
    expect(count(svg, "instant")).toBe(of("i"));
    expect(count(svg, "flow")).toBe(of("s"));
    expect(of("s")).toBe(of("f"));
    // Pinned: the export's counts (chrome-export.test.ts pins them per kind too).
    expect([count(svg, "slice"), count(svg, "instant"), count(svg, "flow")]).toEqual([292, 32, 23]);
    // Tracks: dom0's vcpu0, xenstored and its mappings (the guests' console pages); each
    // guest's own row (its lifecycle instants), vcpu0 and its pages mapped by dom0. The counters
    // that stay 0 (dom0's pages mapped by peers, the guests' own mappings) are not drawn.
    expect(count(svg, "process")).toBe(3);
    expect([...svg.matchAll(/class="track-label"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual([
      "vcpu0",
      "xenstored",
      "grant maps mapped",
      "process-scoped",
      "vcpu0",
      "grant maps peers",
      "process-scoped",
      "vcpu0",
      "grant maps peers",
    ]);
    expect(count(svg, "track")).toBe(9);
    expect(count(svg, "counter")).toBe(3);
    expect(svg).toContain(
      ">position in the recording (ts, µs; each slice's virtual time is in its args as vt_ns)</text>",
    );
  });
});
