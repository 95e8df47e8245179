// `pvkit demo`, `--help` on every command, `--version`, and `pvkit trace` on files that are not traces.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, tempDir } from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => void (tmp = tempDir("pvkit-demo-")));
afterEach(killAll);
afterAll(() => tmp.remove());

describe("pvkit demo", () => {
  it("runs the workload to exit 0, writes the trace and says how to open it, in plain lines when piped", async () => {
    const trace = join(tmp.dir, "demo.json");
    const r = await runCli(["demo", "--trace", trace, "--messages", "3"], { cwd: tmp.dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    // No cursor movement or line clearing when stdout is not a terminal.
    expect(r.stdout).not.toContain("\x1b");
    expect(r.stdout).toContain("pvkit demo: console messages [####################] 3/3");
    expect(r.stdout).toMatch(/devices +d1 console\/1: frontend Connected, backend Connected/);
    expect(r.stdout).toMatch(/notifications \d+ event-channel sends, \d+ upcalls/);
    expect(r.stdout).toContain("console       log: step 3 acknowledged");
    expect(r.stdout).toContain("destroyed d1 demo: console/0 console, console/1 console");
    expect(r.stdout).toContain(`trace written: ${trace} (`);
    expect(r.stdout).toContain("https://ui.perfetto.dev");
    expect(r.stdout).toMatch(/pvkit demo: ok\n$/);
    const doc = JSON.parse(readFileSync(trace, "utf8")) as { traceEvents: unknown[]; metadata: Record<string, unknown> };
    expect(doc.traceEvents.length).toBeGreaterThan(100);
    expect(doc.metadata.command).toBe("pvkit demo");
    const summary = await runCli(["trace", trace, "--top", "2"]);
    expect(summary.code).toBe(0);
    expect(summary.stdout).toMatch(/EVTCHNOP_send \d+/);
  });

  it("refuses a trace path in a directory that does not exist, before booting anything", async () => {
    const r = await runCli(["demo", "--trace", join(tmp.dir, "no/such/dir/t.json")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`pvkit: --trace ${join(tmp.dir, "no/such/dir/t.json")}: directory ${join(tmp.dir, "no/such/dir")} does not exist\n`);
    expect(r.stdout).toBe("");
  });
});

describe("pvkit --help and --version", () => {
  it("prints the package version", async () => {
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${(JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version}\n`);
  });

  it("has help for every command, exiting 0", async () => {
    const results = await Promise.all(["demo", "up", "create", "list", "console", "destroy", "trace"].map(async (cmd) => [cmd, await runCli([cmd, "--help"])] as const));
    for (const [cmd, r] of results) {
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(new RegExp(`^Usage: pvkit ${cmd} `));
    }
    expect(results.find(([c]) => c === "up")![1].stdout).toContain("'file:disk.img,xvda,w'");
  });

  it("rejects an unknown command and a bad option value with a non-zero exit", async () => {
    const a = await runCli(["frobnicate"]);
    expect(a.code).not.toBe(0);
    expect(a.stderr).toContain("unknown command 'frobnicate'");
    const b = await runCli(["trace", "x.json", "--top", "0"]);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain("--top must be a positive integer");
  });
});

describe("pvkit trace", () => {
  it("names a missing file and a file that is not a trace", async () => {
    const missing = await runCli(["trace", join(tmp.dir, "absent.json")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`pvkit: trace file ${join(tmp.dir, "absent.json")}: no such file\n`);
    const bogus = join(tmp.dir, "bogus.json");
    writeFileSync(bogus, '{"hello": 1}');
    const r = await runCli(["trace", bogus]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^pvkit: trace file ${bogus}: not a pvkit trace: `));
    expect(existsSync(bogus)).toBe(true);
  });
});
