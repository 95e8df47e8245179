// The recorder's bound: past maxEvents the oldest records go (or, with drop-newest, new ones
// are not kept), the drops are counted, and the export of the window left still validates.
import { describe, expect, it } from "vitest";
import { chromeTraceJson, parseChromeTrace } from "@pvkit/toolstack";
import { createTestHost } from "@pvkit/toolstack/testing";
import { recordTrace } from "@pvkit/toolstack";
import { validateChromeTrace } from "./chrome-validator.js";
import { runPingScenario } from "./scenario.js";

describe("TraceRecorder", () => {
  it("keeps the latest maxEvents records and counts the dropped ones when full", async () => {
    const { rec } = await runPingScenario({}, { maxEvents: 50 });
    expect(rec.observed).toBe(324); // with xenconsoled (on by default) serving each guest's console 0
    expect(rec.dropped).toBe(274);
    const records = rec.records();
    expect(records).toHaveLength(50);
    expect(records.map((r) => r.n)).toEqual(Array.from({ length: 50 }, (_, i) => 274 + i));
    const json = chromeTraceJson(rec.snapshot());
    expect(validateChromeTrace(json)).toEqual([]);
    expect(parseChromeTrace(json).metadata).toMatchObject({
      records: 50,
      dropped: 274,
      firstRecord: 274,
      lastRecord: 323,
    });
  });

  it("keeps the first maxEvents records with overflow drop-newest", async () => {
    const { rec } = await runPingScenario({}, { maxEvents: 50, overflow: "drop-newest" });
    expect(rec.dropped).toBe(274);
    expect(rec.records().map((r) => r.n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(validateChromeTrace(chromeTraceJson(rec.snapshot()))).toEqual([]);
  });

  it("turns the hypervisor's trace emission on while attached and back to what it was when stopped", async () => {
    // The sanitizer (on by default) listens to raises itself: stopping the recorder must leave
    // those on, and turn off only what the recorder alone turned on.
    await using t = await createTestHost();
    const bus = t.host.hv.trace;
    const before = { ...bus.enabled };
    expect(before).toEqual({
      hypercall: false,
      raise: true,
      upcall: true,
      domain: true,
      timer: true,
    });
    const rec = recordTrace(t.host);
    expect(bus.enabled).toEqual({
      hypercall: true,
      raise: true,
      upcall: true,
      domain: true,
      timer: true,
    });
    rec.stop();
    rec.stop();
    expect({ ...bus.enabled }).toEqual(before);
    await using bare = await createTestHost({ sanitizer: false });
    const rec2 = recordTrace(bare.host);
    expect({ ...bare.host.hv.trace.enabled }).toEqual({
      hypercall: true,
      raise: true,
      upcall: true,
      domain: true,
      timer: true,
    });
    rec2.stop();
    expect({ ...bare.host.hv.trace.enabled }).toEqual({
      hypercall: false,
      raise: false,
      upcall: false,
      domain: false,
      timer: false,
    });
    expect(t.host.xenstored.listenerCount("request")).toBe(0);
    t.host.openXenstore().write("/local/domain/0/x", "1");
    expect(rec.observed).toBe(0);
  });
});
