/**
 * `pnpm bench` for @pvkit/guest-sdk: the SDK echo (rings + event channels + grant copy through
 * the simulated hypervisor) against a hand-written minimal ring loop in plain JavaScript.
 * Targets: the SDK echo reaches ≥ 35% of the hand loop's request rate, and sends ≤ 0.05
 * notifications per request sustained at queue depth 32.
 *
 * Each contender lives in its own child process (so one's JIT state cannot slow another), and
 * the parent alternates their trials within one run, so machine load hits them alike.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { handRing } from "./hand-ring.js";
import { sdkEcho } from "./sdk-echo.js";

const TRIALS = Number(process.env.BENCH_TRIALS ?? 7);
const SDK_N = Number(process.env.BENCH_SDK_N ?? 100_000);
const HAND_N = Number(process.env.BENCH_HAND_N ?? 1_000_000);

type Contender = "hand" | "poll" | "event";
interface Trial {
  rate: number;
  requests: number;
  notifications: number;
}

/** Child side: set up one contender, warm it up, then answer each "run" with one trial. */
async function child(kind: Contender): Promise<void> {
  let trial: () => Promise<Trial>;
  if (kind === "hand") {
    const hand = handRing();
    trial = async () => {
      const t0 = performance.now();
      hand.run(HAND_N);
      return { rate: HAND_N / ((performance.now() - t0) / 1000), requests: HAND_N, notifications: 0 };
    };
  } else {
    const echo = sdkEcho(kind);
    const n = kind === "poll" ? SDK_N : SDK_N / 4;
    trial = async () => {
      const r = await echo.run(n);
      return { rate: r.requests / r.seconds, requests: r.requests, notifications: r.notifications };
    };
  }
  await trial(); // warm-up
  process.on("message", (m) => {
    if (m === "run") void trial().then((t) => process.send?.(t));
    else process.exit(0);
  });
  process.send?.("ready");
}

function spawn(kind: Contender): Promise<{ run(): Promise<Trial>; stop(): void }> {
  const c: ChildProcess = fork(fileURLToPath(import.meta.url), [kind], { execArgv: process.execArgv });
  const next = (): Promise<unknown> => new Promise((resolve) => c.once("message", resolve));
  return next().then(() => ({
    run: () => {
      const reply = next() as Promise<Trial>;
      c.send("run");
      return reply;
    },
    stop: () => c.send("stop"),
  }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function rate(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)} M/s` : `${(v / 1e3).toFixed(1)} k/s`;
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${process.arch}; ${TRIALS} alternated trials per contender, each in its own process, median`);
  const [hand, poll, event] = await Promise.all([spawn("hand"), spawn("poll"), spawn("event")]);
  const trials: Record<Contender, Trial[]> = { hand: [], poll: [], event: [] };
  for (let t = 0; t < TRIALS; t++) {
    trials.hand.push(await hand.run());
    trials.poll.push(await poll.run());
    trials.event.push(await event.run());
  }
  for (const c of [hand, poll, event]) c.stop();
  const handRate = median(trials.hand.map((t) => t.rate));
  const sdkRate = median(trials.poll.map((t) => t.rate));
  const notes = median(trials.poll.map((t) => t.notifications / t.requests));
  const sent = trials.poll.reduce((a, t) => a + t.notifications, 0);
  const done = trials.poll.reduce((a, t) => a + t.requests, 0);
  const eventRate = median(trials.event.map((t) => t.rate));
  const eventNotes = median(trials.event.map((t) => t.notifications / t.requests));
  const ratio = sdkRate / handRate;
  console.log(`hand-written ring loop (ArrayBuffer, 112-byte entries + 4 KiB memcpy)   ${rate(handRate).padStart(11)}`);
  console.log(`SDK echo, QD32, 4 KiB grant copy per request (poll before re-arm)        ${rate(sdkRate).padStart(11)}   ${notes.toFixed(5)} notifications/request (${sent} in ${done} requests)`);
  console.log(`SDK echo, QD32, re-arm after every round (plain final check; reference)   ${rate(eventRate).padStart(11)}   ${eventNotes.toFixed(4)} notifications/request`);
  console.log(`SDK / hand-written: ${(ratio * 100).toFixed(1)}% (target ≥ 35%): ${ratio >= 0.35 ? "met" : "NOT met"}`);
  console.log(`notifications per request at QD32: ${notes.toFixed(5)} (target ≤ 0.05): ${notes <= 0.05 ? "met" : "NOT met"}`);
}

const role = process.argv[2] as Contender | undefined;
(role !== undefined ? child(role) : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
