// Writes docs/img/blk-trace.json (a blk run's trace, as Perfetto opens it) and
// docs/img/blk-trace.svg (pvkit's picture of it) from the scenario in
// test/blk/e2e/trace-picture.ts; trace-picture.test.ts fails when they are stale.
// Run: pnpm --filter @pvkit/split-drivers trace-picture
import { writeFileSync } from "node:fs";
import { blkTracePicture, PICTURE_FILES } from "../test/blk/e2e/trace-picture.js";

const pic = await blkTracePicture();
if (pic.findings !== 0) throw new Error(`the run had ${pic.findings} sanitizer finding(s)`);
writeFileSync(PICTURE_FILES.json, pic.json);
writeFileSync(PICTURE_FILES.svg, pic.svg);
console.log(
  `${PICTURE_FILES.json}: ${pic.records} records, ${pic.json.length} bytes\n` +
    `${PICTURE_FILES.svg}: ts ${pic.from} to ${pic.to} (${pic.windowRecords} records), ${pic.svg.length} bytes`,
);
