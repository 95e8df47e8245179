// `pvkit trace render`: the docs' blk trace drawn from the command line with the window its
// metadata names is the docs' picture byte for byte; the default output path and the whole-trace
// window; errors for a missing file, a bad window and a bad option value.
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, tempDir } from "./helpers.js";

const IMG = fileURLToPath(new URL("../../../../docs/img/", import.meta.url));
const TRACE = join(IMG, "blk-trace.json");
const PICTURE = join(IMG, "blk-trace.svg");

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("pvkit-render-");
});
afterEach(killAll);
afterAll(() => tmp.remove());

describe("pvkit trace render", () => {
  it("draws the docs' picture from the docs' trace, with the window its metadata names", async () => {
    const meta = (JSON.parse(readFileSync(TRACE, "utf8")) as { metadata: Record<string, unknown> })
      .metadata;
    const out = join(tmp.dir, "picture.svg");
    const r = await runCli([
      "trace",
      "render",
      TRACE,
      "-o",
      out,
      "--from",
      String(meta.picture_from),
      "--to",
      String(meta.picture_to),
      "--title",
      String(meta.picture_title),
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `wrote ${out}: ts ${meta.picture_from} to ${meta.picture_to} µs, 49 slices, 8 flow arrows\n`,
    );
    expect(readFileSync(out, "utf8") === readFileSync(PICTURE, "utf8")).toBe(true);
  });

  it("writes <name>.svg beside <name>.json by default, the whole trace, relative to where it ran", async () => {
    copyFileSync(TRACE, join(tmp.dir, "run.json"));
    const r = await runCli(["trace", "render", "run.json"], { cwd: tmp.dir });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      `wrote ${join(tmp.dir, "run.svg")}: the whole trace, 741 slices, 183 flow arrows\n`,
    );
    expect(readFileSync(join(tmp.dir, "run.svg"), "utf8")).toMatch(/^<svg xmlns=/);
  });

  it("names a missing file, an empty window and a bad --from", async () => {
    const missing = await runCli(["trace", "render", join(tmp.dir, "absent.json")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `pvkit: trace file ${join(tmp.dir, "absent.json")}: no such file\n`,
    );
    const empty = await runCli(["trace", "render", TRACE, "--from", "5", "--to", "5"]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe(`pvkit: trace file ${TRACE}: the window 5–5 µs is empty\n`);
    const bad = await runCli(["trace", "render", TRACE, "--from", "-1"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("--from must be a non-negative number of µs");
  });
});
