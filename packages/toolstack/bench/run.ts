/** `pnpm --filter @pvkit/toolstack bench`: one line per benchmark, then the target check. */
import { fmt } from "./harness.js";
import { ringBenches, socketBenches } from "./xenstore.bench.js";
import { createDestroy, readyTimes } from "./domains.bench.js";

console.log(`node ${process.version}, ${process.arch}`);
for (const r of await ringBenches()) console.log(fmt(r));
for (const r of await socketBenches()) console.log(fmt(r));
console.log(fmt(await createDestroy()));
const ready = await readyTimes(50);
console.log(
  `${"dom0 + one ready domU (median of 50, ms)".padEnd(62)} ${ready.medianMs.toFixed(2).padStart(9)} ms`,
);
console.log(`ready in ≤ 20 ms median: ${ready.medianMs <= 20 ? "met" : "NOT met"}`);
