/**
 * Profiling entry for one blk workload alone, e.g.
 * `tsx --conditions=@pvkit/source --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.ts`.
 * BENCH_OP (read), BENCH_QD (32), BENCH_BACKEND (memory), BENCH_N requests (200 000) after a
 * warm-up of a tenth of that; BENCH_POLL=0 turns blkback's yield-and-look-again off;
 * BENCH_VECTORED=1 issues through readv / writev; BENCH_FRAMES=1 reads into (writes from)
 * BlkfrontFrames instead of bounced Uint8Arrays. BENCH_PROFILE=<file.cpuprofile> profiles the
 * timed run alone (node:inspector; no set-up, fill or warm-up in it) instead of --cpu-prof.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { type Backend, type Op, blkBench } from "./blk-io.js";

const op = (process.env.BENCH_OP ?? "read") as Op;
const qd = Number(process.env.BENCH_QD ?? 32);
const backend = (process.env.BENCH_BACKEND ?? "memory") as Backend;
const n = Number(process.env.BENCH_N ?? 200_000);
const out = process.env.BENCH_PROFILE;
const b = await blkBench(backend, { poll: process.env.BENCH_POLL !== "0" });
const vectored = process.env.BENCH_VECTORED === "1";
const frames = process.env.BENCH_FRAMES === "1";
await b.run(op, qd, { n: n / 10 }, { vectored, frames });
const session = out === undefined ? undefined : new Session();
if (session !== undefined) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
}
const r = await b.run(op, qd, { n }, { vectored, frames });
if (session !== undefined) {
  const { profile } = await session.post("Profiler.stop");
  writeFileSync(out!, JSON.stringify(profile));
  session.disconnect();
}
console.log(
  `${backend} ${op}${vectored ? "v" : ""}${frames ? " frames" : ""} QD${qd}: ${(r.requests / r.seconds / 1e3).toFixed(1)} k/s, ${(r.notifications / r.requests).toFixed(4)} notifications/request`,
);
await b.close();
