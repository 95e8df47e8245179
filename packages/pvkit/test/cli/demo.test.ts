// `pvkit demo`, `--help` on every command, `--version`, and `pvkit trace` on files that are not traces.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, tempDir } from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => void (tmp = tempDir("pvkit-demo-")));
afterEach(killAll);
afterAll(() => tmp.remove());

describe("pvkit demo", () => {
  it("writes and verifies a pattern across the guest's disk, dom0 checks the image, exit 0, a trace written, plain lines when piped", async () => {
    const trace = join(tmp.dir, "demo.json");
    const t0 = Date.now();
    const r = await runCli(["demo", "--trace", trace, "--disk", "2"], { cwd: tmp.dir });
    const wallMs = Date.now() - t0;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    // No cursor movement, colour or line clearing when stdout is not a terminal.
    expect(r.stdout).not.toContain("\x1b");
    const image = /xvda: raw image (\S+), 2 MiB, created sparse in a temporary directory/.exec(
      r.stdout,
    )?.[1];
    expect(image).toMatch(/\/pvkit-demo-[^/]+\/disk\.img$/);
    expect(r.stdout).toContain("pvkit demo: writing the pattern    [####################] 8/8");
    expect(r.stdout).toContain("pvkit demo: reading back, verifying [####################] 8/8");
    expect(r.stdout).toMatch(
      /devices +d1 console\/1: frontend Connected, backend Connected\n +d1 vbd\/51712: frontend Connected, backend Connected/,
    );
    // 2 MiB in 64 KiB writes and reads (indirect requests), and one flush.
    expect(r.stdout).toContain("requests      65 blkif requests (32 writes, 32 reads, 1 flushes)");
    expect(r.stdout).toMatch(
      /IOPS +\d+\/s of real \(wall-clock\) time; virtual time is still 0 ns\n/,
    );
    expect(r.stdout).toMatch(/notifications \d+ event-channel sends, \d+ upcalls/);
    expect(r.stdout).toMatch(/grants +\d+ mapped by backends now/);
    expect(r.stdout).toContain(
      "destroyed d1 demo: console/0 console, console/1 console, vbd/51712 closed\n",
    );
    expect(r.stdout).toContain(
      "guest: pattern verified: 2097152 bytes written across xvda, 2097152 read back, all match\n",
    );
    expect(r.stdout).toContain(
      `dom0: image file checked: all 2097152 bytes of ${image} hold the pattern\n`,
    );
    expect(r.stdout).toContain(`image removed: ${image} (--keep-image keeps it)\n`);
    expect(existsSync(image!)).toBe(false);
    expect(r.stdout).toContain(`trace written: ${trace} (`);
    expect(r.stdout).toContain("https://ui.perfetto.dev");
    expect(r.stdout).toMatch(/pvkit demo: ok\n$/);
    const doc = JSON.parse(readFileSync(trace, "utf8")) as {
      traceEvents: unknown[];
      metadata: Record<string, unknown>;
    };
    expect(doc.traceEvents.length).toBeGreaterThan(100);
    expect(doc.metadata.command).toBe("pvkit demo");
    const summary = await runCli(["trace", trace, "--top", "2"]);
    expect(summary.code).toBe(0);
    expect(summary.stdout).toMatch(/EVTCHNOP_send \d+/);
    // The spawned process (tsx start-up included) on a shared machine: generous, but not minutes.
    expect(wallMs).toBeLessThan(20_000);
  });

  it("keeps the image with --keep-image, and the image holds the pattern", async () => {
    const r = await runCli(
      ["demo", "--trace", join(tmp.dir, "keep.json"), "--disk", "1", "--keep-image"],
      { cwd: tmp.dir },
    );
    expect(r.code, r.stderr).toBe(0);
    const kept = /image kept: (\S+)\n/.exec(r.stdout)?.[1];
    expect(kept).toBeDefined();
    const bytes = readFileSync(kept!);
    expect(bytes.length).toBe(1 << 20);
    // The pattern (a hash of the offset) at a few offsets, pinned; the image starts sparse, so a
    // region never written would read as zeros.
    expect([0, 1, 511, 512, 65535, (1 << 20) - 1].map((o) => bytes[o])).toEqual([
      9, 5, 167, 116, 115, 217,
    ]);
    rmSync(dirname(kept!), { recursive: true, force: true });
  });

  it("refuses a trace path in a directory that does not exist, before booting anything", async () => {
    const r = await runCli(["demo", "--trace", join(tmp.dir, "no/such/dir/t.json")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `pvkit: --trace ${join(tmp.dir, "no/such/dir/t.json")}: directory ${join(tmp.dir, "no/such/dir")} does not exist\n`,
    );
    expect(r.stdout).toBe("");
  });
});

describe("pvkit --help and --version", () => {
  it("prints the package version", async () => {
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${(JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version}\n`,
    );
  });

  it("has help for every command, exiting 0", async () => {
    const results = await Promise.all(
      ["demo", "up", "create", "list", "console", "destroy", "trace"].map(
        async (cmd) => [cmd, await runCli([cmd, "--help"])] as const,
      ),
    );
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
    expect(missing.stderr).toBe(
      `pvkit: trace file ${join(tmp.dir, "absent.json")}: no such file\n`,
    );
    const bogus = join(tmp.dir, "bogus.json");
    writeFileSync(bogus, '{"hello": 1}');
    const r = await runCli(["trace", bogus]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^pvkit: trace file ${bogus}: not a pvkit trace: `));
    expect(existsSync(bogus)).toBe(true);
  });
});
