/**
 * Only the in-process ring case of `xenstore.bench.ts` (a guest's XenbusClient over its ring,
 * `depth` requests in flight), for profiling and A/B runs: prints ops per wall-clock second and
 * per CPU-second of the process (guest, hypervisor and xenstored all run in it).
 *
 * Usage (from packages/toolstack):
 *   node --conditions=@pvkit/source --import tsx bench/ring-profile.ts [READ|WRITE] [seconds] [depth]
 * with `--cpu-prof` before `--conditions` for a profile (tsx's loader then shows in it too).
 */
import { guestClient, inFlight } from "./xenstore.bench.js";

const op = (process.argv[2] ?? "READ").toUpperCase();
const seconds = Number(process.argv[3] ?? 3);
const depth = Number(process.argv[4] ?? 16);
const { host, xenbus } = await guestClient();
const f = op === "WRITE" ? () => xenbus.write("data/k", "value") : () => xenbus.read("data/k");
await inFlight(10_000, depth, f);
let n = 0;
const c0 = process.cpuUsage();
const t0 = performance.now();
while (performance.now() - t0 < seconds * 1000) n += await inFlight(10_000, depth, f);
const wall = (performance.now() - t0) / 1000;
const c = process.cpuUsage(c0);
console.log(
  `${op} ${depth} in flight: ${(n / wall / 1000).toFixed(1)} k/s wall, ${(n / ((c.user + c.system) / 1e6) / 1000).toFixed(1)} k/CPU-s`,
);
await host.close();
