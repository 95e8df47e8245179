/** `pnpm bench` for @pvkit/hypervisor-sim. Prints one line per benchmark and the target checks. */
import { fmt } from "./harness.js";
import { sendDeliver } from "./evtchn.bench.js";
import { copies4k, mapUnmapPairs } from "./gnttab.bench.js";

console.log(`node ${process.version}, ${process.arch}`);
const ev = [sendDeliver(1), sendDeliver(64), sendDeliver(4095)];
for (const r of ev) console.log(fmt(r));
const gt = [mapUnmapPairs(), copies4k(1), copies4k(32)];
for (const r of gt) console.log(fmt(r));
const [one, , many] = ev;
const ratio = one!.opsPerSec / many!.opsPerSec;
console.log(`idle bound ports: 4095 cost ${ratio.toFixed(2)}x of 1 (target ≤ 1.5x): ${ratio <= 1.5 ? "met" : "NOT met"}`);
console.log(`send+deliver ≥ 3M events/s: ${one!.opsPerSec >= 3e6 ? "met" : "NOT met"} (${(one!.opsPerSec / 1e6).toFixed(2)}M/s)`);
