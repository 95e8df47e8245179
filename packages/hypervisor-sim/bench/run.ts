/**
 * `pnpm bench` for @pvkit/hypervisor-sim. Each case runs in a fresh child process, so one case's
 * JIT and heap state cannot slow the next; each reports the median of its timed samples.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type BenchResult, fmt } from "./harness.js";
import { sendDeliver } from "./evtchn.bench.js";
import { copies4k, mapUnmapPairs } from "./gnttab.bench.js";

const cases: Record<string, () => BenchResult> = {
  "evtchn-1": () => sendDeliver(1),
  "evtchn-64": () => sendDeliver(64),
  "evtchn-4095": () => sendDeliver(4095),
  "map-unmap": () => mapUnmapPairs(),
  "copy-1": () => copies4k(1),
  "copy-32": () => copies4k(32),
};

const only = process.argv[2];
if (only !== undefined) {
  const run = cases[only];
  if (run === undefined) throw new Error(`unknown case ${only}`);
  process.send?.(run());
} else {
  console.log(
    `node ${process.version}, ${process.arch}; each case in a fresh process, median of 7 samples`,
  );
  const results: Record<string, BenchResult> = {};
  for (const name of Object.keys(cases)) {
    results[name] = await new Promise<BenchResult>((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), [name], { execArgv: process.execArgv });
      child.once("message", (m) => resolve(m as BenchResult));
      child.once("exit", (code) =>
        code === 0 ? undefined : reject(new Error(`${name} exited ${code}`)),
      );
    });
    console.log(fmt(results[name]!));
  }
  const one = results["evtchn-1"]!.opsPerSec;
  const many = results["evtchn-4095"]!.opsPerSec;
  const ratio = one / many;
  console.log(
    `idle bound ports: 4095 cost ${ratio.toFixed(2)}x of 1 (target ≤ 1.5x): ${ratio <= 1.5 ? "met" : "NOT met"}`,
  );
  console.log(
    `send+deliver ≥ 3M events/s: ${one >= 3e6 ? "met" : "NOT met"} (${(one / 1e6).toFixed(2)}M/s)`,
  );
}
