// The Chrome/Perfetto export of a recorded two-domain run (scenario.ts): valid against the
// format (chrome-validator.ts, since no Perfetto trace processor installs from npm), exact
// counts, flow arrows from a notify to the upcall it caused, and byte-identical replay per seed.
import { describe, expect, it } from "vitest";
import {
  chromeTraceJson,
  domainPid,
  exportChromeTrace,
  parseChromeTrace,
  summarizeTrace,
  type ChromeTraceEvent,
} from "@pvkit/toolstack";
import { createTestHost } from "@pvkit/toolstack/testing";
import { recordTrace } from "@pvkit/toolstack";
import { validateChromeTrace } from "./chrome-validator.js";
import { runPingScenario } from "./scenario.js";

function countBy(
  events: readonly ChromeTraceEvent[],
  key: (e: ChromeTraceEvent) => string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) out[key(e)] = (out[key(e)] ?? 0) + 1;
  return out;
}

describe("exportChromeTrace", () => {
  it("exports a two-domain run that validates, with the records and events per kind pinned", async () => {
    const { rec, received } = await runPingScenario();
    expect(received).toBe(3);
    // With xenconsoled (on by default) each guest's console 0 is mapped (grant ref 0) and bound:
    // 2 hypercalls and 1 raise per domain, its watches and key reads in xenstore, and a map and
    // an unmap on the grant-map counter per domain.
    expect(rec.counts()).toEqual({
      hypercall: 59,
      raise: 28,
      upcall: 23,
      timer: 0,
      domain: 4,
      xenstore: 210,
      span: 0,
      phase: 0,
    });
    expect(rec.dropped).toBe(0);
    const json = chromeTraceJson(rec.snapshot());
    expect(validateChromeTrace(json)).toEqual([]);
    const trace = parseChromeTrace(json);
    expect(trace.displayTimeUnit).toBe("ns");
    expect(countBy(trace.traceEvents, (e) => `${e.ph} ${e.cat ?? e.name}`)).toEqual({
      "M process_name": 3,
      "M process_sort_index": 3,
      "M thread_name": 4,
      "X hypercall": 59,
      "X evtchn": 23,
      "i evtchn": 28,
      "i domain": 4,
      "X xenstore": 210,
      "s notify": 23,
      "f notify": 23,
      "C gnttab": 8,
    });
    const names = trace.traceEvents
      .filter((e) => e.name === "process_name" || e.name === "thread_name")
      .map((e) => `${e.pid}/${e.tid ?? "-"} ${String(e.args?.name)}`);
    expect(names).toEqual([
      "1/- d0 (Domain-0)",
      "1/1000 vcpu0",
      "1/1999 xenstored",
      "2/- d1 (rx)",
      "2/2000 vcpu0",
      "3/- d2 (tx)",
      "3/3000 vcpu0",
    ]);
    // A guest's xenstore requests are slices on xenstored's track naming the domain and path.
    const txWrites = trace.traceEvents.filter(
      (e) => e.cat === "xenstore" && e.args?.domid === 2 && e.name === "XS_WRITE",
    );
    // Paths as the guest sent them (relative to /local/domain/2).
    expect(txWrites.map((e) => e.args?.path)).toEqual(["data/i", "data/i", "data/i"]);
    expect(trace.metadata).toMatchObject({
      format: "pvkit-trace/1",
      seed: null,
      records: 324,
      dropped: 0,
      flows: 23,
    });
  });

  it("draws an arrow from each of tx's notifies to the upcall it caused in rx", async () => {
    const { rec } = await runPingScenario();
    const trace = exportChromeTrace(rec.snapshot());
    const ev = trace.traceEvents;
    const starts = new Map(ev.filter((e) => e.ph === "s").map((e) => [e.id, e]));
    const txToRx = ev.filter(
      (e) => e.ph === "f" && e.pid === domainPid(1) && starts.get(e.id)?.pid === domainPid(2),
    );
    expect(txToRx).toHaveLength(3);
    // The start sits on the EVTCHNOP_send slice just before it, on tx's vCPU 0.
    for (const f of txToRx) {
      const s = starts.get(f.id)!;
      const i = ev.indexOf(s);
      expect(ev[i - 1]).toMatchObject({ name: "EVTCHNOP_send", ph: "X", pid: 3, tid: 3000 });
      expect(ev[ev.indexOf(f) - 1]).toMatchObject({ name: "upcall", ph: "X", pid: 2, tid: 2000 });
    }
  });

  it("gives byte-identical JSON for the same chaos seed, and different JSON for another seed", async () => {
    const a = chromeTraceJson((await runPingScenario({ chaos: { seed: 7 } })).rec.snapshot());
    const b = chromeTraceJson((await runPingScenario({ chaos: { seed: 7 } })).rec.snapshot());
    const c = chromeTraceJson((await runPingScenario({ chaos: { seed: 8 } })).rec.snapshot());
    expect(validateChromeTrace(a)).toEqual([]);
    expect(validateChromeTrace(c)).toEqual([]);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(parseChromeTrace(a).metadata?.seed).toBe(7);
    // Chaos delays deliveries, so virtual time moves: not every event is at ts 0.
    expect(parseChromeTrace(a).traceEvents.some((e) => (e.ts ?? 0) > 0)).toBe(true);
  });

  it("writes driver spans as slices and request lifetimes as nested async slices", async () => {
    await using t = await createTestHost();
    const rec = recordTrace(t.host);
    rec.span(0, "blkback", "map ring", 1_000, 3_500, { ref: 8 });
    rec.requestPhase(1, "blkfront", 7, "queued", { t: 2_000, label: "read 8 sectors" });
    rec.requestPhase(1, "blkfront", 7, "notified", { t: 2_000 });
    rec.requestPhase(1, "blkfront", 7, "consumed", { t: 2_500 });
    rec.requestPhase(1, "blkfront", 7, "responded", { t: 3_000, args: { status: 0 } });
    rec.requestPhase(1, "blkfront", 7, "completed", { t: 4_250 });
    rec.requestPhase(1, "blkfront", 7, "queued", { t: 5_000 });
    rec.stop();
    const json = chromeTraceJson(rec.snapshot(), { timeline: "virtual" });
    expect(validateChromeTrace(json)).toEqual([]);
    // The default timeline: each record at its position (µs), virtual time in args.
    const seq = chromeTraceJson(rec.snapshot());
    expect(validateChromeTrace(seq)).toEqual([]);
    const sev = parseChromeTrace(seq).traceEvents.filter(
      (e) => e.cat === "span" || e.cat === "request",
    );
    expect(sev.map((e) => [e.name, e.ph, e.ts, e.dur, e.args?.vt_ns, e.args?.vt_end_ns])).toEqual([
      ["map ring", "X", 0, 0.8, 1000, 3500],
      ["read 8 sectors", "b", 1, undefined, 2000, undefined],
      ["queued", "b", 1, undefined, 2000, undefined],
      ["queued", "e", 2, undefined, 2000, undefined],
      ["notified", "b", 2, undefined, 2000, undefined],
      ["notified", "e", 3, undefined, 2500, undefined],
      ["consumed", "b", 3, undefined, 2500, undefined],
      ["consumed", "e", 4, undefined, 3000, undefined],
      ["responded", "b", 4, undefined, 3000, undefined],
      ["responded", "e", 5, undefined, 4250, undefined],
      ["read 8 sectors", "e", 5, undefined, 4250, undefined],
      ["request 7", "b", 6, undefined, 5000, undefined],
      ["request 7", "e", 6, undefined, 5000, undefined],
    ]);
    expect(parseChromeTrace(seq).metadata?.timeline).toBe("sequence");
    // The summary reads virtual time back from args: the same slowest request either way, the
    // sequence timeline adding the records it spans (ts 1 to 5).
    expect(
      summarizeTrace(parseChromeTrace(seq)).filter((l) => l.includes("read 8 sectors")),
    ).toEqual(["  read 8 sectors (d1 blkfront) 2250 ns at 2000 ns, 4 records"]);
    expect(
      summarizeTrace(parseChromeTrace(json)).filter((l) => l.includes("read 8 sectors")),
    ).toEqual(["  read 8 sectors (d1 blkfront) 2250 ns at 2000 ns"]);
    const ev = parseChromeTrace(json).traceEvents.filter(
      (e) => e.cat === "span" || e.cat === "request",
    );
    expect(ev).toEqual([
      {
        name: "map ring",
        cat: "span",
        ph: "X",
        ts: 1,
        dur: 2.5,
        pid: 1,
        tid: 1100,
        args: { ref: 8 },
      },
      {
        name: "read 8 sectors",
        cat: "request",
        ph: "b",
        ts: 2,
        pid: 2,
        tid: 2100,
        id: "1/blkfront/7#1",
        args: {
          track: "blkfront",
          id: "7",
          phases: "queued notified consumed responded completed",
        },
      },
      { name: "queued", cat: "request", ph: "b", ts: 2, pid: 2, tid: 2100, id: "1/blkfront/7#1" },
      { name: "queued", cat: "request", ph: "e", ts: 2, pid: 2, tid: 2100, id: "1/blkfront/7#1" },
      { name: "notified", cat: "request", ph: "b", ts: 2, pid: 2, tid: 2100, id: "1/blkfront/7#1" },
      {
        name: "notified",
        cat: "request",
        ph: "e",
        ts: 2.5,
        pid: 2,
        tid: 2100,
        id: "1/blkfront/7#1",
      },
      {
        name: "consumed",
        cat: "request",
        ph: "b",
        ts: 2.5,
        pid: 2,
        tid: 2100,
        id: "1/blkfront/7#1",
      },
      { name: "consumed", cat: "request", ph: "e", ts: 3, pid: 2, tid: 2100, id: "1/blkfront/7#1" },
      {
        name: "responded",
        cat: "request",
        ph: "b",
        ts: 3,
        pid: 2,
        tid: 2100,
        id: "1/blkfront/7#1",
        args: { status: 0 },
      },
      {
        name: "responded",
        cat: "request",
        ph: "e",
        ts: 4.25,
        pid: 2,
        tid: 2100,
        id: "1/blkfront/7#1",
      },
      {
        name: "read 8 sectors",
        cat: "request",
        ph: "e",
        ts: 4.25,
        pid: 2,
        tid: 2100,
        id: "1/blkfront/7#1",
      },
      {
        name: "request 7",
        cat: "request",
        ph: "b",
        ts: 5,
        pid: 2,
        tid: 2100,
        id: "1/blkfront/7#2",
        args: { track: "blkfront", id: "7", phases: "queued", incomplete: true },
      },
      {
        name: "request 7",
        cat: "request",
        ph: "e",
        ts: 5,
        pid: 2,
        tid: 2100,
        id: "1/blkfront/7#2",
      },
    ]);
    // The span's domain (dom0) and the request's (d1, which is not a domain of this host) both get names.
    const meta = parseChromeTrace(json)
      .traceEvents.filter((e) => e.ph === "M" && e.name !== "process_sort_index")
      .map((e) => String(e.args?.name));
    expect(meta).toEqual(["d0 (Domain-0)", "vcpu0", "blkback", "d1", "blkfront"]);
  });

  it("rejects times and ids a span or phase cannot have", async () => {
    await using t = await createTestHost();
    using rec = recordTrace(t.host);
    expect(() => rec.span(0, "x", "s", 10, 9)).toThrow(/endNs 9 is before startNs 10/);
    expect(() => rec.span(0, "", "s", 1, 2)).toThrow(RangeError);
    expect(() => rec.span(0, "x", "s", 1.5, 2)).toThrow(/startNs must be a non-negative integer/);
    expect(() => rec.span(-1, "x", "s", 1, 2)).toThrow(/domid -1/);
    expect(() => rec.requestPhase(0, "x", 1, "started" as never)).toThrow(
      /phase must be one of queued, notified, consumed, responded, completed/,
    );
    expect(() => recordTrace(t.host, { maxEvents: 0 })).toThrow(
      /maxEvents must be a positive integer/,
    );
    expect(rec.observed).toBe(0);
  });
});
