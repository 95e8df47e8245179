// The strict validator the export tests rely on must itself fail on broken traces.
import { describe, expect, it } from "vitest";
import { validateChromeTraceObject } from "./chrome-validator.js";

const names = [
  { name: "process_name", ph: "M", pid: 1, args: { name: "d0" } },
  { name: "thread_name", ph: "M", pid: 1, tid: 1000, args: { name: "vcpu0" } },
];
const doc = (...events: object[]): object => ({
  displayTimeUnit: "ns",
  traceEvents: [...names, ...events],
});
const slice = {
  name: "EVTCHNOP_send",
  cat: "hypercall",
  ph: "X",
  ts: 1,
  dur: 0,
  pid: 1,
  tid: 1000,
};

describe("validateChromeTraceObject", () => {
  it("accepts a slice with a flow to a later slice", () => {
    expect(
      validateChromeTraceObject(
        doc(
          slice,
          { name: "n", cat: "c", ph: "s", ts: 1, pid: 1, tid: 1000, id: "1" },
          { ...slice, ts: 2 },
          { name: "n", cat: "c", ph: "f", ts: 2, pid: 1, tid: 1000, id: "1", bp: "e" },
        ),
      ),
    ).toEqual([]);
  });

  it("reports each broken rule with the event's index", () => {
    expect(validateChromeTraceObject(doc({ ...slice, dur: undefined }))).toEqual([
      "traceEvents[2]: X without a non-negative dur",
    ]);
    expect(validateChromeTraceObject(doc({ ...slice, tid: 7 }))).toEqual([
      "traceEvents[2]: thread 1 7 has no thread_name",
    ]);
    expect(validateChromeTraceObject(doc({ ...slice, ts: 2 }, slice))).toEqual([
      "traceEvents[3]: ts 1 goes back on track 1 1000 (was 2)",
    ]);
    expect(
      validateChromeTraceObject(
        doc({ name: "r", cat: "request", ph: "e", ts: 1, pid: 1, id: "a" }),
      ),
    ).toEqual(["traceEvents[2]: e r id a without an open b"]);
    expect(
      validateChromeTraceObject(
        doc({ name: "r", cat: "request", ph: "b", ts: 1, pid: 1, id: "a" }),
      ),
    ).toEqual(["async 1 request a: r never ended"]);
    expect(
      validateChromeTraceObject(
        doc({ name: "n", cat: "c", ph: "s", ts: 1, pid: 1, tid: 1000, id: "1" }),
      ),
    ).toEqual(["traceEvents[2]: s id 1 has no enclosing slice on 1 1000", "flow c n 1 never ends"]);
    expect(
      validateChromeTraceObject(
        doc(
          slice,
          { name: "n", cat: "c", ph: "s", ts: 1, pid: 1, tid: 1000, id: "1" },
          { name: "n", cat: "c", ph: "f", ts: 1, pid: 1, tid: 1000, id: "1" },
        ),
      ),
    ).toEqual(["traceEvents[4]: f without bp e"]);
    expect(
      validateChromeTraceObject(doc({ name: "g", ph: "C", ts: 1, pid: 1, args: { n: "x" } })),
    ).toEqual(["traceEvents[2]: counter n is not a number"]);
    expect(validateChromeTraceObject({ traceEvents: [slice] })).toEqual([
      "traceEvents[0]: pid 1 has no process_name",
      "traceEvents[0]: thread 1 1000 has no thread_name",
    ]);
  });
});
