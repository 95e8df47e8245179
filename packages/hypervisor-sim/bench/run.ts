/** `pnpm bench` for @pvkit/hypervisor-sim. Prints one line per benchmark and the target checks. */
import { fmt } from "./harness.js";
import { sendDeliver } from "./evtchn.bench.js";

const results = [sendDeliver(1), sendDeliver(64), sendDeliver(4095)];
for (const r of results) console.log(fmt(r));
const [one, , many] = results;
console.log(`idle-port cost: ${(one!.opsPerSec / many!.opsPerSec).toFixed(2)}x (target ≤ 1.5x)`);
console.log(`send+deliver target ≥ 3M events/s: ${one!.opsPerSec >= 3e6 ? "met" : "NOT met"}`);
