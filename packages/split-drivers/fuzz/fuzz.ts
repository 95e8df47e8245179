/**
 * `pnpm fuzz`: many seeds of the blk scenario under chaos and every fault of the test host
 * (xenstore EAGAIN storms, grant map failures, storage EIO and slow I/O) against the real
 * split drivers, each on a fresh sanitized test host. Not part of `pnpm test`.
 *
 *   pnpm fuzz [--seeds N] [--from S] [--shard i/n] [--time-limit SECONDS] [--hostile | --crash]
 *
 * `--hostile`: instead of the fault mix, one end of the device lies (hostilePeer: the backend on
 * odd seeds, the frontend on even ones), twice, at seeded notifications, with chaos on; the
 * honest end must survive (hostile-scenario.ts). The findings a lie provokes by itself are allowed.
 *
 * `--crash`: instead, blkback crashes and restarts at a seeded point of the I/O burst (the n-th
 * notification the guest receives, n in [1, 40]), with chaos on: on odd seeds only the driver
 * (blkback in dom0 dies without a word, a fresh one takes over), on even seeds its whole driver
 * domain (destroyed, rebuilt, xvda re-attached); blkfront must recover with every request settled
 * once, with the right data (crash-scenario.ts). Crashes that came after the burst are counted.
 *
 * Seeds S .. S+N-1 (default 1..200); `--shard i/n` runs the i-th of n contiguous slices, as
 * vitest's `--shard` splits files, so a CI matrix spreads a campaign over machines. The run
 * stops starting seeds after the time limit (default 600 s; the seeds not run are reported).
 * Every failing seed is printed with its rerun command; the exit code is 1 if any failed.
 */
import { createTestHost } from "@pvkit/toolstack/testing";
import { runBlkFaults } from "../test/blk/e2e/fault-scenario.js";
import { allowHostileFindings, runHostile } from "../test/blk/e2e/hostile-scenario.js";
import { runCrash } from "../test/blk/e2e/crash-scenario.js";

interface Args {
  seeds: number;
  from: number;
  shard: [number, number];
  timeLimitS: number;
  hostile: boolean;
  crash: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    seeds: 200,
    from: 1,
    shard: [1, 1],
    timeLimitS: 600,
    hostile: false,
    crash: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const int = (): number => {
      if (v === undefined || !/^[0-9]+$/.test(v))
        throw new Error(`${k} needs a non-negative integer, got ${String(v)}`);
      i++;
      return Number(v);
    };
    if (k === "--") continue;
    else if (k === "--seeds") a.seeds = int();
    else if (k === "--from") a.from = int();
    else if (k === "--time-limit") a.timeLimitS = int();
    else if (k === "--hostile") a.hostile = true;
    else if (k === "--crash") a.crash = true;
    else if (k === "--shard") {
      const m = /^([0-9]+)\/([0-9]+)$/.exec(v ?? "");
      if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2]))
        throw new Error(`--shard needs i/n with 1 <= i <= n, got ${String(v)}`);
      a.shard = [Number(m[1]), Number(m[2])];
      i++;
    } else
      throw new Error(
        `unknown argument ${k} (usage: pnpm fuzz [--seeds N] [--from S] [--shard i/n] [--time-limit SECONDS] [--hostile | --crash])`,
      );
  }
  if (a.hostile && a.crash)
    throw new Error("--hostile and --crash are separate campaigns: give one");
  return a;
}

/** The seeds of shard i of n: contiguous slices of [from, from + seeds). */
export function shardSeeds(from: number, seeds: number, [i, n]: [number, number]): number[] {
  const size = Math.ceil(seeds / n);
  const lo = from + (i - 1) * size;
  const hi = Math.min(from + seeds, lo + size);
  return Array.from({ length: Math.max(0, hi - lo) }, (_, k) => lo + k);
}

/** Corruptions made over the run (--hostile). */
let lies = 0;

async function runHostileSeed(seed: number): Promise<void> {
  const t = await createTestHost({ seed, chaos: true });
  allowHostileFindings(t);
  try {
    const r = await runHostile(t, {
      impersonate: seed % 2 === 1 ? "backend" : "frontend",
      count: 2,
    });
    lies += r.corruptions.length;
  } catch (err) {
    await t.finish().catch(() => undefined);
    throw err;
  }
  await t.finish();
}

/** Crashes over the run (--crash): fired during the burst, reissued requests. */
const crashes = { fired: 0, reissued: 0 };

async function runCrashSeed(seed: number): Promise<void> {
  const t = await createTestHost({ seed, chaos: true });
  try {
    const r = await runCrash(t, { form: seed % 2 === 1 ? "driver" : "domain" });
    if (r.fired) crashes.fired++;
    crashes.reissued += r.reissued;
  } catch (err) {
    await t.finish().catch(() => undefined);
    throw err;
  }
  await t.finish();
}

async function runSeed(seed: number): Promise<void> {
  const t = await createTestHost({
    seed,
    chaos: true,
    faults: {
      xenstoreEagain: { rate: 0.3 },
      grantMapFailure: { nth: [8 + (seed % 17)], status: "GNTST_eagain", mapper: 0 },
    },
  });
  try {
    await runBlkFaults(t, {
      storage: { failRate: 0.05, delayNs: { min: 0, max: 200_000 } },
      requests: 24,
    });
  } catch (err) {
    await t.finish().catch(() => undefined);
    throw err;
  }
  await t.finish();
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const seeds = shardSeeds(args.from, args.seeds, args.shard);
  const deadline = Date.now() + args.timeLimitS * 1000;
  const failed: { seed: number; error: string }[] = [];
  let ran = 0;
  for (const seed of seeds) {
    if (Date.now() > deadline) break;
    ran++;
    try {
      await (args.hostile ? runHostileSeed(seed) : args.crash ? runCrashSeed(seed) : runSeed(seed));
    } catch (err) {
      const first = (err instanceof Error ? err.message : String(err))
        .split("\n")
        .slice(0, 6)
        .join("\n    ");
      failed.push({ seed, error: first });
      console.log(
        `seed ${seed} FAILED: ${first}\n  rerun: pnpm fuzz --from ${seed} --seeds 1${args.hostile ? " --hostile" : args.crash ? " --crash" : ""}`,
      );
    }
  }
  const skipped = seeds.length - ran;
  console.log(
    `fuzz: ${ran} seeds run (shard ${args.shard.join("/")}, seeds ${seeds[0] ?? "-"}..${seeds.at(-1) ?? "-"}), ${failed.length} failed${skipped > 0 ? `, ${skipped} not run (time limit ${args.timeLimitS} s)` : ""}`,
  );
  if (args.hostile) console.log(`hostile: ${lies} corruptions made`);
  if (args.crash)
    console.log(
      `crash: ${crashes.fired} of ${ran} crashes fired during the burst, ${crashes.reissued} requests re-issued`,
    );
  if (failed.length > 0) console.log(`failing seeds: ${failed.map((f) => f.seed).join(" ")}`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
