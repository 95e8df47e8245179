/**
 * Development A/B: alternates short runs of the hand-written ring loop and blk workloads in one
 * process and prints each workload's median rate and median ratio to the adjacent hand run.
 * `tsx --conditions=@pvkit/source bench/ab.ts` (AB_MS per run, AB_ROUNDS).
 */
import { handRing } from "../../guest-sdk/bench/hand-ring.js";
import { blkBench } from "./blk-io.js";

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
const off = await blkBench("memory", { poll: false });
const cases: [string, () => Promise<{ rate: number; notes: number }>][] = [
  [
    "poll on ",
    async () => {
      const r = await on.run("read", 32, { ms: MS });
      return { rate: r.requests / r.seconds, notes: r.notifications / r.requests };
    },
  ],
  [
    "poll off",
    async () => {
      const r = await off.run("read", 32, { ms: MS });
      return { rate: r.requests / r.seconds, notes: r.notifications / r.requests };
    },
  ],
  [
    "readv   ",
    async () => {
      const r = await on.run("read", 32, { ms: MS }, { vectored: true });
      return { rate: r.requests / r.seconds, notes: r.notifications / r.requests };
    },
  ],
];
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
    `${cases[i]![0]}: ${(med(res[i]!.rates) / 1e3).toFixed(1)} k/s, ${(100 * med(res[i]!.ratios)).toFixed(1)}% of hand, ${res[i]!.notes.toFixed(4)} notifications/request`,
  );
}
await on.close();
await off.close();
