/**
 * Development A/B: alternates short runs of the hand-written ring loop and blk workloads in one
 * process and prints each workload's median rate and median ratio to the adjacent hand run.
 * `tsx --conditions=@pvkit/source bench/ab.ts` (AB_MS per run, AB_ROUNDS; AB_CASES, a comma
 * list of case names, runs only those). AB_CPU=1 counts each run's rate per CPU-second of this
 * process (user + system, `process.cpuUsage`) instead of per wall-clock second: on a shared
 * machine another process's load then moves the figures far less (an A/B of two trees, run
 * alternately, compares these).
 */
import { handRing } from "../../guest-sdk/bench/hand-ring.js";
import { type IoResult, blkBench } from "./blk-io.js";

const MS = Number(process.env.AB_MS ?? 150);
const ROUNDS = Number(process.env.AB_ROUNDS ?? 12);
const hand = handRing();
const handRate = (): number => {
  const n = 200_000;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  hand.run(n);
  return n / (CPU ? cpuSince(c0) : (performance.now() - t0) / 1000);
};
const CPU = process.env.AB_CPU === "1";
const on = await blkBench("memory", { poll: true });
/** CPU-seconds since `c0` (`process.cpuUsage`). */
const cpuSince = (c0: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
};
const per = (r: IoResult, cpuSeconds: number): { rate: number; notes: number } => ({
  rate: r.requests / (CPU ? cpuSeconds : r.seconds),
  notes: r.notifications / r.requests,
});
const timed = async (f: () => Promise<IoResult>): Promise<{ rate: number; notes: number }> => {
  const c0 = process.cpuUsage();
  const r = await f();
  return per(r, cpuSince(c0));
};
const all: [string, () => Promise<{ rate: number; notes: number }>][] = [
  ["read", async () => timed(() => on.run("read", 32, { ms: MS }))],
  ["read-frames", async () => timed(() => on.run("read", 32, { ms: MS }, { frames: true }))],
  ["readv", async () => timed(() => on.run("read", 32, { ms: MS }, { vectored: true }))],
  [
    "readv-frames",
    async () => timed(() => on.run("read", 32, { ms: MS }, { vectored: true, frames: true })),
  ],
  ["write-frames", async () => timed(() => on.run("write", 32, { ms: MS }, { frames: true }))],
  ["copy-only", async () => timed(() => on.copyOnly(32, { ms: MS }))],
];
const only = process.env.AB_CASES?.split(",");
const cases = only === undefined ? all : all.filter(([n]) => only.includes(n));
const res = cases.map(() => ({ rates: [] as number[], ratios: [] as number[], notes: 0 }));
for (let k = 0; k < 3; k++) for (const [, f] of cases) await f();
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < cases.length; i++) {
    const h = handRate();
    const x = await cases[i]![1]();
    res[i]!.rates.push(x.rate);
    res[i]!.ratios.push(x.rate / h);
    res[i]!.notes = x.notes;
  }
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (let i = 0; i < cases.length; i++) {
  console.log(
    `${cases[i]![0].padEnd(13)}: ${(med(res[i]!.rates) / 1e3).toFixed(1)} k/s, ${(100 * med(res[i]!.ratios)).toFixed(1)}% of hand, ${res[i]!.notes.toFixed(4)} notifications/request`,
  );
}
await on.close();
