// Paths on the command line mean what they mean where the user typed them: `pnpm pvkit …` runs
// the CLI in packages/pvkit, with the user's directory in INIT_CWD, and every path argument is
// resolved against it (the cwd when it is not set). The commands the CLI suggests are ones that
// work from there: `pnpm -w pvkit …` under a package script, `pvkit …` otherwise.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { killAll, PKG_DIR, runCli, tempDir } from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("pvkit-paths-");
  writeFileSync(join(tmp.dir, "notes.json"), "{}");
});
afterEach(killAll);
afterAll(() => tmp.remove());

/** As `pnpm pvkit <args>` run in `tmp.dir` does it: the CLI in the package, INIT_CWD the user's. */
const asPnpmScript = { cwd: PKG_DIR, env: { INIT_CWD: "", npm_lifecycle_event: "pvkit" } };
const fromTmp = () => ({ ...asPnpmScript, env: { ...asPnpmScript.env, INIT_CWD: tmp.dir } });

describe("pvkit's path arguments", () => {
  it("reads `pvkit trace <file>` relative to INIT_CWD, and names the absolute path", async () => {
    const r = await runCli(["trace", "notes.json"], fromTmp());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^pvkit: trace file ${join(tmp.dir, "notes.json")}: not a pvkit trace`),
    );
    const missing = await runCli(["trace", "absent.json"], fromTmp());
    expect(missing.stderr).toBe(
      `pvkit: trace file ${join(tmp.dir, "absent.json")}: no such file\n`,
    );
  });

  it("reads a relative config of `pvkit up` and `--run-dir` relative to INIT_CWD", async () => {
    const up = await runCli(["up", "host.yaml", "--run-dir", "run"], fromTmp());
    expect(up.code).toBe(1);
    expect(up.stderr).toContain(join(tmp.dir, "host.yaml"));
    expect(up.stderr).toContain("no such file");
    const list = await runCli(["list", "--run-dir", "run"], fromTmp());
    expect(list.stderr).toBe(
      `pvkit: cannot reach the control socket ${join(tmp.dir, "run", "control")}: no pvkit host is running there (start one with \`pnpm -w pvkit up <config>\`)\n`,
    );
  });

  it("resolves against the working directory, and suggests bare `pvkit`, when not run as a package script", async () => {
    const list = await runCli(["list", "--run-dir", "run"], { cwd: tmp.dir });
    expect(list.stderr).toBe(
      `pvkit: cannot reach the control socket ${join(tmp.dir, "run", "control")}: no pvkit host is running there (start one with \`pvkit up <config>\`)\n`,
    );
  });
});
