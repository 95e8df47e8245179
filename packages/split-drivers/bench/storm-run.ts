/**
 * The boot storm alone, in this process: `tsx --conditions=@pvkit/source --expose-gc
 * bench/storm-run.ts [N]` (N = BENCH_STORM or 1000) prints one JSON line (storm.ts's
 * StormResult). With BENCH_PROFILE=<file.cpuprofile> the storm itself (not the host's set-up)
 * is profiled through node:inspector and written there; with BENCH_HEAP_PROFILE=<file.heapprofile>
 * its allocations are sampled (garbage included: what the collector has to clear) instead.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { bootStorm } from "./storm.js";

const n = Number(process.argv[2] ?? process.env.BENCH_STORM ?? 1000);
const out = process.env.BENCH_PROFILE;
const heapOut = process.env.BENCH_HEAP_PROFILE;
const session = out === undefined && heapOut === undefined ? undefined : new Session();
if (session !== undefined) {
  session.connect();
  if (out !== undefined) {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 500 });
    await session.post("Profiler.start");
  } else {
    await session.post("HeapProfiler.enable");
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
}
const r = await bootStorm(n);
if (session !== undefined) {
  if (out !== undefined) {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(out, JSON.stringify(profile));
  } else {
    const { profile } = await session.post("HeapProfiler.stopSampling");
    writeFileSync(heapOut!, JSON.stringify(profile));
  }
  session.disconnect();
}
console.log(JSON.stringify(r));
process.exit(0);
