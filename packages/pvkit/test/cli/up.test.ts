// A long-running `pvkit up` driven as a user drives it: list, create, destroy, the console through
// a real pseudo-terminal, Debian's xenstore-ls against its socket, a second `up` refused, and the
// trace written when it stops.
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn as ptySpawn } from "node-pty";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  killAll,
  NODE_ARGS,
  PKG_DIR,
  runCli,
  startUp,
  tempDir,
  type UpProcess,
} from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
let up: UpProcess;
let runDir: string;
let tracePath: string;

function hasTool(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  tmp = tempDir("pvkit-up-");
  runDir = join(tmp.dir, "run");
  tracePath = join(tmp.dir, "up-trace.json");
  writeFileSync(join(tmp.dir, "disk.img"), Buffer.alloc(1 << 20));
  writeFileSync(
    join(tmp.dir, "host.yaml"),
    [
      "domains:",
      "  - name: alpha",
      "    memory: 8",
      "    vcpus: 2",
      "    disks: ['file:disk.img,xvda,w']",
      "  - name: beta",
      "    kernel: idle",
      "",
    ].join("\n"),
  );
  writeFileSync(join(tmp.dir, "gamma.json"), JSON.stringify({ name: "gamma", memory: 6 }));
  up = await startUp([join(tmp.dir, "host.yaml"), "--run-dir", runDir, "--trace", tracePath]);
}, 90_000);

afterAll(async () => {
  await up?.stop();
  killAll();
  tmp.remove();
});

describe("pvkit up", () => {
  it("says what it built and prints the XENSTORED_PATH line to export", () => {
    const o = up.output();
    expect(o).toMatch(/d1 alpha: 8 MiB, 2 vCPUs, kernel shell, console \/dev\/pts\/\d+/);
    expect(o).toMatch(
      /disk xvda \(vbd\/51712\): file .*disk\.img \(read-write\), served by blkback in dom0/,
    );
    expect(o).toMatch(/d2 beta: 4 MiB, 1 vCPU, kernel idle/);
    expect(o).toContain(`export XENSTORED_PATH=${join(runDir, "xenstored")}\n`);
  });

  it("lists Domain-0 and the guests with their consoles", async () => {
    const r = await runCli(["list", "--run-dir", runDir]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^Name\s+ID\s+Mem\s+VCPUs\s+State\s+Console$/);
    expect(lines[1]).toMatch(/^Domain-0\s+0\s+4\s+1\s+running\s+-$/);
    expect(lines[2]).toMatch(/^alpha\s+1\s+8\s+2\s+running\s+\/dev\/pts\/\d+$/);
    expect(lines[3]).toMatch(
      /^\s+vbd\/51712 \(xvda\) frontend Connected, backend Connected, 1 MiB \(2048 sectors, 512-byte logical\)$/,
    );
    expect(lines[4]).toMatch(/^beta\s+2\s+4\s+1\s+running\s+\/dev\/pts\/\d+$/);
  });

  it("lets Debian's xenstore-ls read the host's tree through XENSTORED_PATH", async (ctx) => {
    if (!hasTool("xenstore-ls"))
      ctx.skip(
        "xenstore-ls (Debian's xenstore-utils) is not installed; scripts/xenstore-tools-check.sh installs it",
      );
    const out = execFileSync("xenstore-ls", ["/local/domain/1"], {
      env: { ...process.env, XENSTORED_PATH: join(runDir, "xenstored") },
      encoding: "utf8",
      timeout: 10_000,
    });
    expect(out).toMatch(/^name = "alpha"$/m);
    expect(out).toMatch(/^memory = ""$/m);
    expect(out).toMatch(/^ target = "8192"$/m);
    expect(out).toMatch(/^ tty = "\/dev\/pts\/\d+"$/m);
  });

  it("refuses a second up on the same run directory, naming the socket in use", async () => {
    const r = await runCli(["up", join(tmp.dir, "host.yaml"), "--run-dir", runDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `pvkit: socket ${join(runDir, "control")} is in use: a pvkit host is already running in ${runDir} \\(pid \\d+\\)`,
      ),
    );
    // The first host is unharmed.
    expect((await runCli(["list", "--run-dir", runDir])).code).toBe(0);
  });

  it("attaches the console through a real pty: the guest echoes what is typed, Ctrl-] detaches", async () => {
    const term = ptySpawn(
      process.execPath,
      [...NODE_ARGS, "console", "alpha", "--run-dir", runDir],
      { cwd: PKG_DIR, cols: 80, rows: 24, env: process.env as Record<string, string> },
    );
    let seen = "";
    term.onData((d) => (seen += d));
    const exited = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
    const until = async (s: string, what: string): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!seen.includes(s)) {
        if (Date.now() > deadline)
          throw new Error(`no ${what} on the console; saw ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until("Ctrl-] detaches]", "attach message");
      term.write("echo hello pvkit\r");
      await until("echo hello pvkit\r\nhello pvkit\r\nalpha# ", "echo and answer");
      term.write("whoami\r");
      await until("d1 alpha\r\nalpha# ", "whoami answer");
      term.write("\x1d");
      expect(
        await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 15_000))]),
      ).toBe(0);
      expect(seen).toContain("[detached from d1 alpha]");
    } finally {
      term.kill();
    }
  });

  it("creates a domain from a config into the running host, and destroys it by name", async () => {
    const c = await runCli(["create", join(tmp.dir, "gamma.json"), "--run-dir", runDir]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^d3 gamma: 6 MiB, 1 vCPU, kernel shell, console \/dev\/pts\/\d+\n$/);
    const again = await runCli(["create", join(tmp.dir, "gamma.json"), "--run-dir", runDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`a domain named "gamma" is already running`);
    const d = await runCli(["destroy", "gamma", "--run-dir", runDir]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(
      /^destroyed d3 gamma: console\/0 console; took 0 ns of virtual time, \d+ ms real\n$/,
    );
    const l = await runCli(["list", "--run-dir", runDir]);
    expect(l.stdout).not.toContain("gamma");
    const missing = await runCli(["destroy", "gamma", "--run-dir", runDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('pvkit: no domain "gamma" (pvkit list shows the running ones)\n');
  });

  it("stops on SIGINT, writes the trace, and pvkit trace summarises it", async () => {
    const r = await up.stop();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`trace: ${tracePath} (open it in https://ui.perfetto.dev`);
    expect(r.stdout).toMatch(/pvkit up: host stopped\n$/);
    expect(existsSync(join(runDir, "control"))).toBe(false);
    expect(existsSync(join(runDir, "xenstored"))).toBe(false);
    const t = await runCli(["trace", tracePath, "--top", "3"]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(new RegExp(`^trace ${tracePath}:\ntrace: \\d+ events`));
    expect(t.stdout).toContain("hypercalls:");
  });
});
