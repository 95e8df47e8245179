/**
 * `pnpm bench` for @pvkit/split-drivers: blkfront ↔ blkback through the simulated hypervisor,
 * in the same run as the hand-written ring loop of @pvkit/guest-sdk's bench (hand-ring.ts), and
 * the boot storm.
 *
 * - 4 KiB random reads and writes at queue depth 1, 32 and 128 on the memory and the file
 *   backend (QD128 on a 128-slot ring, `ring-page-order` 2; the others on one page), each
 *   request its own `readSectorsInto` / `writeSectors` call (QD programs awaiting one call
 *   after another), and the same at QD32 and QD128 through `readv` / `writev` (one program
 *   submitting QD calls at a time); the QD32 ones again with `BlkfrontFrames` as the buffers
 *   (zero-copy: the frames are granted, no bounce copy); 1 MiB sequential reads and writes
 *   (QD4): each a real `BlkfrontDisk` call, through bounce pages (or frames), grants, the ring,
 *   blkback's checks and the storage's copy or file I/O (blk-io.ts).
 * - the floor under any read on the memory backend: the storage's own copy of each 4 KiB block
 *   (same random offsets over the same disk) into one of 32 frames, and nothing else
 *   (`copyOnly`): what the hand loop's cache-resident memcpy is not.
 * - the same QD32 reads on the memory backend with the test host's sanitizer attached (issue 12:
 *   its overhead), and with blkback's poll (yield and look again) off.
 * - notifications per request: event-channel sends, both directions, per disk call.
 * - the boot storm: N domUs each with a disk and a console, until every disk is Connected
 *   (storm.ts), in a fresh process per trial.
 *
 * Shape (as guest-sdk's bench): each trial starts every contender in a fresh child process,
 * warms it up, then alternates short timed runs: hand, blk workload 1, hand, blk workload 2, ...
 * The ratio to the hand loop (bytes per second; the hand loop moves 4 KiB per request) is taken
 * for each adjacent pair. Medians and quartiles over all
 * runs of all trials are reported. Environment: BENCH_TRIALS (5), BENCH_REPS (3), BENCH_RUN_MS
 * (150), BENCH_WARMUP_MS (600), BENCH_STORM (100,1000), BENCH_STORM_TRIALS (3), BENCH_ONLY
 * ("io" or "storm"), BENCH_DISK_MIB (64: the disk, filled with data before the runs).
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { handRing } from "../../guest-sdk/bench/hand-ring.js";
import { type Backend, type Op, blkBench } from "./blk-io.js";
import { type StormResult, bootStorm } from "./storm.js";

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? 150);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 600);
const HAND_N = Number(process.env.BENCH_HAND_N ?? 300_000);
const STORM = (process.env.BENCH_STORM ?? "100,1000").split(",").filter(Boolean).map(Number);
const STORM_TRIALS = Number(process.env.BENCH_STORM_TRIALS ?? 3);
const ONLY = process.env.BENCH_ONLY;

interface Workload {
  readonly name: string;
  readonly op: Op;
  readonly qd: number;
  readonly blockBytes: number;
  readonly sequential: boolean;
  readonly vectored: boolean;
  /** The buffers are BlkfrontFrames (zero-copy), not Uint8Arrays. */
  readonly frames: boolean;
  /** The storage copy alone (`BlkBench.copyOnly`), no driver. */
  readonly copyOnly?: boolean;
}

const WORKLOADS: readonly Workload[] = [
  ...(["read", "write"] as const).flatMap((op) =>
    [1, 32, 128].map((qd) => ({
      name: `4 KiB random ${op} QD${qd}`,
      op,
      qd,
      blockBytes: 4096,
      sequential: false,
      vectored: false,
      frames: false,
    })),
  ),
  ...(["read", "write"] as const).flatMap((op) =>
    [32, 128].map((qd) => ({
      name: `4 KiB random ${op}v QD${qd}`,
      op,
      qd,
      blockBytes: 4096,
      sequential: false,
      vectored: true,
      frames: false,
    })),
  ),
  ...(["read", "write"] as const).flatMap((op) =>
    [false, true].map((vectored) => ({
      name: `4 KiB random ${op}${vectored ? "v" : ""} QD32, frames`,
      op,
      qd: 32,
      blockBytes: 4096,
      sequential: false,
      vectored,
      frames: true,
    })),
  ),
  ...(["read", "write"] as const).map((op) => ({
    name: `1 MiB sequential ${op} QD4`,
    op,
    qd: 4,
    blockBytes: 1 << 20,
    sequential: true,
    vectored: false,
    frames: false,
  })),
  {
    name: "storage copy alone: 4 KiB random into 32 frames, no driver",
    op: "read",
    qd: 32,
    blockBytes: 4096,
    sequential: false,
    vectored: false,
    frames: true,
    copyOnly: true,
  },
];
const at = (name: string): number => {
  const i = WORKLOADS.findIndex((w) => w.name === name);
  if (i < 0) throw new Error(`no workload ${name}`);
  return i;
};
const READ_QD32 = at("4 KiB random read QD32");
const READV_QD32 = at("4 KiB random readv QD32");
const READ_QD32_FRAMES = at("4 KiB random read QD32, frames");
const READV_QD32_FRAMES = at("4 KiB random readv QD32, frames");
const COPY_ONLY = WORKLOADS.findIndex((w) => w.copyOnly === true);
/** The read workloads the verdicts are about, each with what it is. */
const TARGETS: readonly (readonly [number, string])[] = [
  [READ_QD32, "one readSectorsInto call per request, bounced"],
  [READV_QD32, "readv, 32 requests per call, bounced"],
  [READ_QD32_FRAMES, "one readSectorsInto call per request into frames, zero-copy"],
  [READV_QD32_FRAMES, "readv, 32 requests per call into frames, zero-copy"],
];

/** The blk contenders: a backend, blkback's options, and the workloads each runs. */
interface Contender {
  readonly name: string;
  readonly backend: Backend;
  readonly sanitizer: boolean;
  readonly poll: boolean;
  readonly workloads: readonly number[];
}
const ALL = WORKLOADS.map((_, i) => i);
const DRIVER = ALL.filter((i) => i !== COPY_ONLY);
const TARGET_WORKLOADS = TARGETS.map(([w]) => w);
const CONTENDERS: readonly Contender[] = [
  { name: "memory", backend: "memory", sanitizer: false, poll: true, workloads: ALL },
  { name: "file", backend: "file", sanitizer: false, poll: true, workloads: DRIVER },
  {
    name: "memory + sanitizer",
    backend: "memory",
    sanitizer: true,
    poll: true,
    workloads: TARGET_WORKLOADS,
  },
  {
    name: "memory, poll off",
    backend: "memory",
    sanitizer: false,
    poll: false,
    workloads: TARGET_WORKLOADS,
  },
];

interface RunResult {
  /** Disk calls (or hand-loop requests) per second. */
  rate: number;
  /** Bytes per second. */
  bytes: number;
  requests: number;
  notifications: number;
  ringRequests: number;
}

type Message = { kind: "run"; workload?: number } | { kind: "stop" };

// ---- children --------------------------------------------------------------------------------

async function child(role: string): Promise<void> {
  if (role.startsWith("storm:")) {
    const r = await bootStorm(Number(role.slice(6)));
    process.send?.(r);
    process.exit(0);
  }
  let run: (w: number) => Promise<RunResult>;
  if (role === "hand") {
    const hand = handRing();
    run = async () => {
      const t0 = performance.now();
      hand.run(HAND_N);
      const rate = HAND_N / ((performance.now() - t0) / 1000);
      return { rate, bytes: rate * 4096, requests: HAND_N, notifications: 0, ringRequests: HAND_N };
    };
  } else {
    const c = CONTENDERS[Number(role.slice(4))]!;
    // One connection per ring size: QD128 gets a 128-slot ring (order 2).
    const o = { sanitizer: c.sanitizer, poll: c.poll };
    const small = await blkBench(c.backend, { ringPageOrder: 0, ...o });
    const big = c.workloads.some((w) => WORKLOADS[w]!.qd > 32)
      ? await blkBench(c.backend, { ringPageOrder: 2, ...o })
      : small;
    run = async (w) => {
      const wl = WORKLOADS[w]!;
      const b = wl.qd > 32 ? big : small;
      const r = wl.copyOnly
        ? await b.copyOnly(wl.qd, { ms: RUN_MS })
        : await b.run(
            wl.op,
            wl.qd,
            { ms: RUN_MS },
            {
              blockBytes: wl.blockBytes,
              sequential: wl.sequential,
              vectored: wl.vectored,
              frames: wl.frames,
            },
          );
      return {
        rate: r.requests / r.seconds,
        bytes: (r.requests * wl.blockBytes) / r.seconds,
        requests: r.requests,
        notifications: r.notifications,
        ringRequests: r.ringRequests,
      };
    };
    process.on("message", (m: Message) => {
      if (m.kind === "stop")
        void Promise.all([small.close(), big === small ? undefined : big.close()]).then(
          () => process.exit(0),
          (e: unknown) => {
            console.error(e);
            process.exit(1);
          },
        );
    });
  }
  // Warm-up by time, spread over the workloads.
  const mine = role === "hand" ? [0] : CONTENDERS[Number(role.slice(4))]!.workloads;
  for (const w of mine)
    for (const t0 = performance.now(); performance.now() - t0 < WARMUP_MS / mine.length; )
      await run(w);
  process.on("message", (m: Message) => {
    if (m.kind === "run") void run(m.workload ?? 0).then((r) => process.send?.(r));
    else if (role === "hand") process.exit(0);
  });
  process.send?.("ready");
}

// ---- parent ----------------------------------------------------------------------------------

interface Runner {
  run(workload?: number): Promise<RunResult>;
  stop(): void;
}

function spawn(
  role: string,
  execArgv: string[],
): { c: ChildProcess; next: () => Promise<unknown> } {
  const c = fork(fileURLToPath(import.meta.url), [role], { execArgv });
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void =>
        reject(new Error(`${role} child exited with ${code}`));
      c.once("exit", onExit);
      c.once("message", (m) => {
        c.off("exit", onExit);
        resolve(m);
      });
    });
  return { c, next };
}

async function start(role: string): Promise<Runner> {
  const { c, next } = spawn(role, process.execArgv);
  await next();
  return {
    run: (workload) => {
      const reply = next() as Promise<RunResult>;
      c.send({ kind: "run", workload } satisfies Message);
      return reply;
    },
    stop: () => c.send({ kind: "stop" } satisfies Message),
  };
}

function storm(n: number): Promise<StormResult> {
  const { next } = spawn(`storm:${n}`, [...process.execArgv, "--expose-gc"]);
  return next() as Promise<StormResult>;
}

/** [q1, median, q3]. */
function quartiles(xs: readonly number[]): [number, number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const at = (f: number): number => s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
  return [at(0.25), at(0.5), at(0.75)];
}

const rate = (v: number): string =>
  v >= 1e6 ? `${(v / 1e6).toFixed(2)} M/s` : `${(v / 1e3).toFixed(1)} k/s`;
const mib = (v: number): string => `${(v / (1 << 20)).toFixed(0)} MiB/s`;
const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;
const verdict = (ok: boolean): string => (ok ? "met" : "NOT met");

async function ioBench(): Promise<string[]> {
  const results = new Map<string, RunResult[]>();
  const ratios = new Map<string, number[]>();
  const hands: number[] = [];
  const push = <T>(m: Map<string, T[]>, k: string, v: T): void =>
    void (m.get(k) ?? m.set(k, []).get(k)!).push(v);
  for (let t = 0; t < TRIALS; t++) {
    const hand = await start("hand");
    const blks: Runner[] = [];
    for (let c = 0; c < CONTENDERS.length; c++) blks.push(await start(`blk:${c}`));
    for (let r = 0; r < REPS; r++) {
      for (let c = 0; c < CONTENDERS.length; c++) {
        for (const w of CONTENDERS[c]!.workloads) {
          const h = await hand.run();
          const x = await blks[c]!.run(w);
          hands.push(h.rate);
          const key = `${c}|${w}`;
          push(results, key, x);
          push(ratios, key, x.bytes / h.bytes);
        }
      }
    }
    hand.stop();
    for (const x of blks) x.stop();
    if (process.env.BENCH_VERBOSE) console.log(`trial ${t} done`);
  }
  const lines: string[] = [];
  const [hq1, hm, hq3] = quartiles(hands);
  lines.push(
    `hand-written ring loop (guest-sdk bench/hand-ring.ts, QD32, 4 KiB memcpy): median ${rate(hm)} (quartiles ${rate(hq1)} – ${rate(hq3)}, ${hands.length} runs)`,
  );
  lines.push("");
  lines.push(
    "| backend | workload | median | quartiles | MiB/s | bytes/s as % of hand loop (median) | notifications / request |",
  );
  lines.push("|---|---|---|---|---|---|---|");
  for (let c = 0; c < CONTENDERS.length; c++) {
    for (const w of CONTENDERS[c]!.workloads) {
      const rs = results.get(`${c}|${w}`)!;
      const [q1, m, q3] = quartiles(rs.map((x) => x.rate));
      const [, bm] = quartiles(rs.map((x) => x.bytes));
      const [, rm] = quartiles(ratios.get(`${c}|${w}`)!);
      const notes =
        rs.reduce((a, x) => a + x.notifications, 0) / rs.reduce((a, x) => a + x.requests, 0);
      lines.push(
        `| ${CONTENDERS[c]!.name} | ${WORKLOADS[w]!.name} | ${rate(m)} | ${rate(q1)} – ${rate(q3)} | ${mib(bm)} | ${pct(rm)} | ${notes.toFixed(4)} |`,
      );
    }
  }
  const median = (c: number, w: number): number =>
    quartiles(results.get(`${c}|${w}`)!.map((x) => x.rate))[1];
  const copyKey = `0|${COPY_ONLY}`;
  const [, copyRatio] = quartiles(ratios.get(copyKey)!);
  lines.push("");
  lines.push(
    `the storage copy alone (no driver, ring or event: the floor under any read of this disk) runs at ${rate(median(0, COPY_ONLY))}, ${pct(copyRatio)} of the hand loop in adjacent pairs`,
  );
  for (const [w, what] of TARGETS) {
    const key = `0|${w}`;
    const target = results.get(key)!;
    const [, iops] = quartiles(target.map((x) => x.rate));
    const [rq1, ratio, rq3] = quartiles(ratios.get(key)!);
    const notes =
      target.reduce((a, x) => a + x.notifications, 0) / target.reduce((a, x) => a + x.requests, 0);
    lines.push("");
    lines.push(
      `4 KiB random read QD32, memory (${what}): ${rate(iops)} (target ≥ 1M IOPS): ${verdict(iops >= 1e6)}`,
    );
    lines.push(
      `  / hand-written loop, adjacent pairs: median ${pct(ratio)} (quartiles ${pct(rq1)} – ${pct(rq3)}) (target ≥ 30%): ${verdict(ratio >= 0.3)}`,
    );
    lines.push(
      `  notifications per request: ${notes.toFixed(4)} (target ≤ 0.05): ${verdict(notes <= 0.05)}`,
    );
    lines.push(
      `  with the sanitizer: ${rate(median(2, w))}, ${pct(median(2, w) / iops)} of the rate without (issue 12); blkback's poll off: ${rate(median(3, w))}`,
    );
  }
  return lines;
}

async function stormBench(): Promise<string[]> {
  const lines: string[] = [
    "",
    "| boot storm | wall time median (quartiles) | heap / idle domain | RSS / idle domain |",
    "|---|---|---|---|",
  ];
  const verdicts: string[] = [];
  for (const n of STORM) {
    const rs: StormResult[] = [];
    for (let t = 0; t < STORM_TRIALS; t++) rs.push(await storm(n));
    const [q1, m, q3] = quartiles(rs.map((r) => r.ms));
    const [, heap] = quartiles(rs.map((r) => r.heapPerDomain));
    const [, rss] = quartiles(rs.map((r) => r.rssPerDomain));
    const kib = (b: number): string => `${(b / 1024).toFixed(0)} KiB`;
    lines.push(
      `| ${n} domUs Connected | ${(m / 1000).toFixed(2)} s (${(q1 / 1000).toFixed(2)} – ${(q3 / 1000).toFixed(2)}) | ${kib(heap)} | ${kib(rss)} |`,
    );
    if (n === 1000) {
      verdicts.push(
        `1000 domUs Connected: ${(m / 1000).toFixed(2)} s (target ≤ 10 s): ${verdict(m <= 10_000)}`,
      );
      const worst = Math.max(heap, rss);
      verdicts.push(
        `memory per idle domain: ${kib(worst)} (the larger of heap and RSS; target ≤ 1 MiB): ${verdict(worst <= 1 << 20)}`,
      );
    }
  }
  return [...lines, "", ...verdicts];
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${process.arch}; ${TRIALS} trials of fresh processes (${WARMUP_MS} ms warm-up), ${REPS} alternated ${RUN_MS} ms runs per workload per trial; ` +
      `boot storm ${STORM_TRIALS} fresh processes per N`,
  );
  const out: string[] = [];
  if (ONLY !== "storm") out.push(...(await ioBench()));
  if (ONLY !== "io") out.push(...(await stormBench()));
  console.log(out.join("\n"));
}

const role = process.argv[2];
(role !== undefined ? child(role) : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
