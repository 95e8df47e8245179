/**
 * Development A/B: alternates short runs of the hand-written ring loop and blk workloads in one
 * process and prints each workload's median rate and median ratio to the adjacent hand run.
 * `tsx --conditions=@pvkit/source bench/ab.ts` (AB_MS per run, AB_ROUNDS; AB_CASES, a comma
 * list of case names, runs only those).
 */
import { handRing } from "../../guest-sdk/bench/hand-ring.js";
import { type IoResult, blkBench } from "./blk-io.js";

const MS = Number(process.env.AB_MS ?? 150);
const ROUNDS = Number(process.env.AB_ROUNDS ?? 12);
const hand = handRing();
const handRate = (): number => {
  const n = 200_000;
  const t0 = performance.now();
  hand.run(n);
  return n / ((performance.now() - t0) / 1000);
};
const on = await blkBench("memory", { poll: true });
const per = (r: IoResult): { rate: number; notes: number } => ({
  rate: r.requests / r.seconds,
  notes: r.notifications / r.requests,
});
const all: [string, () => Promise<{ rate: number; notes: number }>][] = [
  ["read", async () => per(await on.run("read", 32, { ms: MS }))],
  ["read-frames", async () => per(await on.run("read", 32, { ms: MS }, { frames: true }))],
  ["readv", async () => per(await on.run("read", 32, { ms: MS }, { vectored: true }))],
  [
    "readv-frames",
    async () => per(await on.run("read", 32, { ms: MS }, { vectored: true, frames: true })),
  ],
  ["write-frames", async () => per(await on.run("write", 32, { ms: MS }, { frames: true }))],
  ["copy-only", async () => per(await on.copyOnly(32, { ms: MS }))],
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
