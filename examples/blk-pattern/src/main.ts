/**
 * `pnpm --filter @pvkit/example-blk-pattern start`: creates an 8 MiB sparse image in a temp
 * directory, runs the example on a fresh host, prints both sides' findings, removes the temp
 * directory (BLK_PATTERN_KEEP=1 keeps it). Exits 1 if anything did not match.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHost } from "@pvkit/toolstack";
import { createImage } from "./image.js";
import { IMAGE_BYTES } from "./pattern.js";
import { runBlkPattern } from "./scenario.js";

const dir = await mkdtemp(join(tmpdir(), "pvkit-blk-pattern-"));
const image = join(dir, "disk.img");
await createImage(image, IMAGE_BYTES);
const host = await createHost();
let ok = false;
try {
  const r = await runBlkPattern(host, { image });
  const g = r.guest;
  console.log(
    `domU ${r.domid}: disk ${g.diskBytes} bytes (${g.sectorSize}-byte sectors); wrote ${g.bytesWritten} bytes in ${g.writeCalls} writes, read back ${g.bytesVerified}: ${g.mismatchCount === 0 ? "all match" : `${g.mismatchCount} differ, first ${JSON.stringify(g.mismatches)}`}`,
  );
  console.log(
    `unplug: ${r.unplug}${r.errors.length > 0 ? `; driver errors: ${r.errors.join("; ")}` : ""}`,
  );
  const i = r.image;
  console.log(
    `dom0: ${i.path}: ${i.bytesChecked} bytes checked (${i.patternBytes} of the pattern, the rest zeros): ${i.mismatchCount === 0 ? "all match" : `${i.mismatchCount} differ, first ${JSON.stringify(i.mismatches)}`}`,
  );
  ok =
    g.mismatchCount === 0 &&
    i.mismatchCount === 0 &&
    r.unplug === "closed" &&
    r.errors.length === 0;
  await host.destroyDomain(r.domid);
} finally {
  await host.close();
  if (process.env.BLK_PATTERN_KEEP === "1") console.log(`kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
process.exitCode = ok ? 0 : 1;
