// The summary printer on a small run (one notify), and the loader of a written trace file.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  chromeTraceJson,
  exportChromeTrace,
  loadChromeTrace,
  parseChromeTrace,
  summarizeTrace,
  TraceFormatError,
} from "@pvkit/toolstack";
import { createTestHost } from "@pvkit/toolstack/testing";
import { recordTrace } from "@pvkit/toolstack";
import { runPingScenario } from "./scenario.js";

describe("summarizeTrace", () => {
  it("prints the hottest hypercalls and notifications per xenstore request of a small run", async () => {
    const { rec } = await runPingScenario({}, {}, 1);
    expect(summarizeTrace(exportChromeTrace(rec.snapshot()), { top: 4 })).toEqual([
      // xenconsoled (on by default) binds and maps each guest's console 0: 2 more bind_interdomain
      // and 2 map_grant_ref hypercalls than without it.
      "trace: 336 events, virtual time 0..0 ns, 0 records dropped",
      "hypercalls: 51",
      "  EVTCHNOP_send 15 (29.4%)",
      "  XENMEM_remove_from_physmap 8 (15.7%)",
      "  EVTCHNOP_alloc_unbound 5 (9.8%)",
      "  EVTCHNOP_bind_interdomain 5 (9.8%)",
      "notifications: 15 EVTCHNOP_send, 15 linked to the upcall they caused",
      "  d0 (Domain-0): 6 sends, 0 xenstore requests over its ring (- sends per request)",
      "  d1 (rx): 4 sends, 2 xenstore requests over its ring (2.00 sends per request)",
      "  d2 (tx): 5 sends, 2 xenstore requests over its ring (2.50 sends per request)",
    ]);
  });

  it("prints ring requests, the slowest requests and spans when drivers recorded them", async () => {
    await using t = await createTestHost();
    const rec = recordTrace(t.host);
    const d = await t.host.createDomain({
      name: "front",
      main: (ctx) => ctx.xenbus.write("data/x", "1"),
    });
    await t.host.until(d.done);
    rec.span(0, "back", "map ring", 0, 1_500);
    rec.span(0, "back", "unmap ring", 2_000, 2_250);
    rec.requestPhase(d.domid, "ring", 1, "queued", { label: "write 1", t: 100 });
    rec.requestPhase(d.domid, "ring", 1, "completed", { t: 900 });
    rec.requestPhase(d.domid, "ring", 2, "queued", { label: "write 2", t: 200 });
    rec.requestPhase(d.domid, "ring", 2, "completed", { t: 2_200 });
    rec.stop();
    expect(summarizeTrace(exportChromeTrace(rec.snapshot()), { top: 2 })).toEqual([
      // 4 of them the ring track's occupancy counter: 1, 2, 1, 0 requests in flight.
      "trace: 160 events, virtual time 0..2250 ns, 0 records dropped",
      "hypercalls: 20",
      "  EVTCHNOP_send 4 (20.0%)",
      "  XENMEM_remove_from_physmap 4 (20.0%)",
      "notifications: 4 EVTCHNOP_send, 4 linked to the upcall they caused",
      "  d0 (Domain-0): 2 sends, 0 xenstore requests over its ring (- sends per request)",
      "  d1 (front): 2 sends, 1 xenstore requests over its ring (2.00 sends per request)",
      "ring requests: 2",
      "  ring in d1 (front): 2 requests, 2 sends by the domain (1.00 per request)",
      "slowest requests:",
      // Each lifetime's two phases are consecutive records: 1 record apart.
      "  write 2 (d1 (front) ring) 2000 ns at 200 ns, 1 record",
      "  write 1 (d1 (front) ring) 800 ns at 100 ns, 1 record",
      "slowest spans:",
      "  map ring (d0 (Domain-0) back) 1500 ns at 0 ns",
      "  unmap ring (d0 (Domain-0) back) 250 ns at 2000 ns",
    ]);
  });

  it("summarises a written trace file exactly as the live recording", async () => {
    const { rec } = await runPingScenario({ chaos: { seed: 7 } }, {}, 1);
    const dir = mkdtempSync(join(tmpdir(), "pvkit-trace-"));
    try {
      const file = join(dir, "run.json");
      writeFileSync(file, chromeTraceJson(rec.snapshot()));
      const loaded = await loadChromeTrace(file);
      expect(summarizeTrace(loaded)).toEqual(summarizeTrace(exportChromeTrace(rec.snapshot())));
      expect(summarizeTrace(loaded)[0]).toMatch(/, seed 7$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("throws TraceFormatError for a file that is not a trace", () => {
    expect(() => parseChromeTrace("{")).toThrow(TraceFormatError);
    expect(() => parseChromeTrace('{"events":[]}')).toThrow(/no traceEvents array/);
    expect(() => parseChromeTrace('{"traceEvents":[{"ph":"X"}]}')).toThrow(
      /traceEvents\[0\] is not an event/,
    );
    expect(parseChromeTrace('[{"name":"a","ph":"i","ts":0,"pid":1,"tid":1}]').displayTimeUnit).toBe(
      "ms",
    );
    expect(() => summarizeTrace({ traceEvents: [], displayTimeUnit: "ns" }, { top: 0 })).toThrow(
      RangeError,
    );
  });
});
