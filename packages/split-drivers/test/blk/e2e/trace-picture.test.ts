// The picture of a blk run in docs/testing.md can't go stale: the run is made again, its trace
// and picture compared byte for byte with docs/img/blk-trace.{json,svg}. The trace is also
// checked against the Chrome Trace Event Format (no Perfetto trace processor installs from npm
// or Debian's packages; see chrome-validator.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { validateChromeTrace } from "../../../../toolstack/test/trace/chrome-validator.js";
import { PICTURE_COMMAND, PICTURE_FILES, blkTracePicture } from "./trace-picture.js";

const count = (svg: string, cls: string): number =>
  svg.match(new RegExp(`class="${cls}"`, "g"))?.length ?? 0;

describe("blk e2e: the trace picture in the docs", () => {
  it("is the picture of the committed trace, which is this run's trace, valid Chrome JSON", async () => {
    const pic = await blkTracePicture();
    expect(pic.findings).toBe(0);
    expect(validateChromeTrace(pic.json)).toEqual([]);
    const stale = `stale: run \`${PICTURE_COMMAND}\` and commit docs/img/`;
    expect(
      pic.json === readFileSync(PICTURE_FILES.json, "utf8"),
      `${PICTURE_FILES.json} ${stale}`,
    ).toBe(true);
    expect(
      pic.svg === readFileSync(PICTURE_FILES.svg, "utf8"),
      `${PICTURE_FILES.svg} ${stale}`,
    ).toBe(true);
    // What the picture shows: the six requests' records, d0's and d1's vCPU, the test's request
    // track (six lifetimes, each with its "queued" phase), both grant counters, the notify arrows.
    expect(pic.windowRecords).toBe(40);
    expect(count(pic.svg, "process")).toBe(2);
    expect(count(pic.svg, "track")).toBe(5);
    expect(pic.svg.match(/<title>(write|read|queued)\n/g)?.length).toBe(12);
    expect(count(pic.svg, "slice")).toBe(12 + 21);
    expect(count(pic.svg, "flow")).toBe(8);
    expect(count(pic.svg, "counter")).toBe(2);
  });
});
