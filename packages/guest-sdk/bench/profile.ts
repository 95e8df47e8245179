/**
 * Profiling entry for the SDK echo alone (no hand loop, no event mode), e.g.
 * `tsx --conditions=@pvkit/source --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.ts`.
 * BENCH_SDK_N requests per run (default 300 000), after a warm-up of a tenth of that.
 */
import { sdkEcho } from "./sdk-echo.js";

const N = Number(process.env.BENCH_SDK_N ?? 300_000);
const echo = sdkEcho("poll");
await echo.run(N / 10);
const r = await echo.run(N);
console.log(
  `SDK echo: ${(r.requests / r.seconds / 1e3).toFixed(1)} k/s, ${r.notifications} notifications`,
);
