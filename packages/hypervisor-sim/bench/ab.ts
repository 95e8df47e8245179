/**
 * `pnpm bench:ab <checkout> [rounds]`: this tree against another checkout of the repository (a
 * `git worktree add <dir> <rev>` with its own `pnpm install`), both loaded into one process.
 *
 * Separate processes of the same code differ by ±30% on a shared machine (JIT decisions, CPU
 * frequency, neighbours), more than most changes being measured. Here each round runs every case
 * once on each side, alternating which side goes first, so drift hits both alike; the figure is
 * the median over rounds of this/other per round. Each side's module graph is its own, so one
 * side's JIT feedback does not shape the other's code.
 */
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchResult } from "./harness.js";

type Cases = Record<string, () => BenchResult>;

async function casesOf(benchDir: string): Promise<Cases> {
  const at = (f: string) => pathToFileURL(join(benchDir, f)).href;
  const e = await import(at("evtchn.bench.ts"));
  const g = await import(at("gnttab.bench.ts"));
  return {
    "evtchn-1": () => e.sendDeliver(1),
    "evtchn-64": () => e.sendDeliver(64),
    "evtchn-4095": () => e.sendDeliver(4095),
    "map-unmap": () => g.mapUnmapPairs(),
    "copy-1": () => g.copies4k(1),
    "copy-32": () => g.copies4k(32),
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const other = process.argv[2];
if (other === undefined) {
  console.error("usage: pnpm bench:ab <other checkout of the repository> [rounds, default 9]");
  process.exit(2);
}
const rounds = Number(process.argv[3] ?? 9);
const cwd = process.env.INIT_CWD ?? process.cwd();
const otherRoot = isAbsolute(other) ? other : resolve(cwd, other);
const mine = await casesOf(fileURLToPath(new URL(".", import.meta.url)));
const theirs = await casesOf(join(otherRoot, "packages/hypervisor-sim/bench"));

console.log(
  `node ${process.version}; ${rounds} rounds, sides alternating; this = ${process.cwd()}`,
);
console.log(
  `${"case".padEnd(12)} ${"other M/s".padStart(10)} ${"this M/s".padStart(10)}  this/other`,
);
for (const name of Object.keys(mine)) {
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      b.push(theirs[name]!().opsPerSec);
      a.push(mine[name]!().opsPerSec);
    } else {
      a.push(mine[name]!().opsPerSec);
      b.push(theirs[name]!().opsPerSec);
    }
  }
  const ratios = a.map((x, i) => x / b[i]!);
  const lo = Math.min(...ratios).toFixed(2);
  const hi = Math.max(...ratios).toFixed(2);
  console.log(
    `${name.padEnd(12)} ${(median(b) / 1e6).toFixed(2).padStart(10)} ${(median(a) / 1e6).toFixed(2).padStart(10)}  ${median(ratios).toFixed(3)} (${lo}–${hi})`,
  );
}
