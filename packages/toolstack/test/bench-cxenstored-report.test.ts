// The pure parts of the cxenstored comparison (bench/cxenstored/report.ts): xsbench's result
// line, /proc/<pid>/status, medians, the markdown table and the README splice.
import { describe, expect, it } from "vitest";
import {
  cpuUsPerRequest,
  markdownTable,
  median,
  opsPerSec,
  parseXsbench,
  replaceBetween,
  statusKb,
  sysUsPerRequest,
} from "../bench/cxenstored/report.js";

describe("bench:cxenstored report", () => {
  it("parses xsbench's result line and derives ops/s and µs of CPU (and of it system time) per request", () => {
    const r = parseXsbench(
      "ops=1000 reqs=4000 secs=2.000000 cpu_ticks=8 user_ticks=2 sys_ticks=6 clk_tck=100 errors=0 retries=3\n",
    );
    expect(r).toEqual({
      ops: 1000,
      reqs: 4000,
      secs: 2,
      cpuTicks: 8,
      userTicks: 2,
      sysTicks: 6,
      clkTck: 100,
      errors: 0,
      retries: 3,
    });
    expect(opsPerSec(r)).toBe(500);
    // 8 ticks at 100 Hz = 80 ms over 4000 requests = 20 µs each, 15 of them in the kernel.
    expect(cpuUsPerRequest(r)).toBeCloseTo(20, 10);
    expect(sysUsPerRequest(r)).toBeCloseTo(15, 10);
    expect(cpuUsPerRequest({ ...r, cpuTicks: -1 })).toBeNaN();
    expect(sysUsPerRequest({ ...r, sysTicks: -1 })).toBeNaN();
  });

  it("refuses a result line with a missing or non-numeric field", () => {
    expect(() =>
      parseXsbench("ops=1 reqs=1 secs=1 cpu_ticks=1 user_ticks=1 sys_ticks=0 clk_tck=100 errors=0"),
    ).toThrow(/retries/);
    expect(() =>
      parseXsbench(
        "ops=x reqs=1 secs=1 cpu_ticks=1 user_ticks=1 sys_ticks=0 clk_tck=100 errors=0 retries=0",
      ),
    ).toThrow(/ops/);
    // The line of an older xsbench, without the split.
    expect(() =>
      parseXsbench("ops=1 reqs=1 secs=1 cpu_ticks=1 clk_tck=100 errors=0 retries=0"),
    ).toThrow(/user_ticks/);
  });

  it("reads VmRSS from /proc/<pid>/status text", () => {
    const status =
      "Name:\txenstored\nVmHWM:\t    3600 kB\nVmRSS:\t    3456 kB\nRssAnon:\t     900 kB\n";
    expect(statusKb(status, "VmRSS")).toBe(3456);
    expect(() => statusKb(status, "VmSwap")).toThrow(/VmSwap/);
  });

  it("takes the median, skipping NaN", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(median([Number.NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });

  it("formats the table: ratio pvkit / cxenstored, † when bound by the null server, n/a for a daemon not run, memory in MB", () => {
    const t = markdownTable(
      [
        {
          label: "READ, 8 clients",
          opsPerSec: { pvkit: 55_000, cxenstored: 90_000, null: 200_000 },
          cpuUs: { pvkit: 15.04, cxenstored: 10 },
          sysUs: { pvkit: 8.06, cxenstored: 9.1 },
        },
        {
          label: "WRITE, 1 client",
          opsPerSec: { pvkit: 5_000, null: 9_000 },
          cpuUs: { pvkit: 40 },
        },
        {
          label: "WRITE, 8 clients",
          opsPerSec: { pvkit: 8_000, cxenstored: 7_000, null: 10_000 },
          cpuUs: { pvkit: 18, cxenstored: 14 },
        },
      ],
      [{ label: "VmRSS after writing 10 000 nodes", kb: { pvkit: 102_400, cxenstored: 2_048 } }],
    );
    const lines = t.trimEnd().split("\n");
    expect(lines).toHaveLength(6);
    expect(lines[2]).toBe(
      "| READ, 8 clients | 55.0k | 90.0k | 0.61× | 15.0 (sys 8.1) | 10.0 (sys 9.1) | 200.0k |",
    );
    expect(lines[3]).toBe("| WRITE, 1 client | 5000 | n/a | n/a | 40.0 | n/a | 9000 |");
    // pvkit at 80% of the null server's ops/s: bound by the ceiling, marked †.
    expect(lines[4]).toBe("| WRITE, 8 clients | 8000 | 7000 | 1.14× † | 18.0 | 14.0 | 10.0k |");
    expect(lines[5]).toBe(
      "| VmRSS after writing 10 000 nodes | 100.0 MB | 2.0 MB | 50.00× | | | n/a |",
    );
  });

  it("splices a body between the README markers, replacing what was there", () => {
    const doc = "# t\n<!-- b -->\nold\n<!-- e -->\ntail\n";
    expect(replaceBetween(doc, "<!-- b -->", "<!-- e -->", "new")).toBe(
      "# t\n<!-- b -->\nnew\n<!-- e -->\ntail\n",
    );
    expect(() => replaceBetween("<!-- e --><!-- b -->", "<!-- b -->", "<!-- e -->", "x")).toThrow(
      /markers/,
    );
  });
});
