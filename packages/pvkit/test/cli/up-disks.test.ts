// `pvkit up` serving disks as a user sees them: blkback in dom0 for a read-write image, a memory
// disk, a read-only image and an overlay; the shell guest's blkfront brings each to Connected;
// bytes typed on the console land in the rw image and never in the overlay's image; destroy
// closes every backend at once (no libxl timeout).
import { readFileSync, writeFileSync } from "node:fs";
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

const KIB = 1024;
let tmp: ReturnType<typeof tempDir>;
let up: UpProcess;
let runDir: string;
/** The images' bytes before the host started. */
const before = new Map<string, Buffer>();

/** 64 KiB of bytes that are a function of the offset and a seed. */
function imageBytes(seed: number): Buffer {
  const b = Buffer.alloc(64 * KIB);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

beforeAll(async () => {
  tmp = tempDir("pvkit-up-disks-");
  runDir = join(tmp.dir, "run");
  for (const [name, seed] of [
    ["rw.img", 1],
    ["base.img", 2],
    ["ro.img", 3],
  ] as const) {
    const b = imageBytes(seed);
    writeFileSync(join(tmp.dir, name), b);
    before.set(name, b);
  }
  writeFileSync(
    join(tmp.dir, "disks.yaml"),
    [
      "domains:",
      "  - name: alpha",
      "    disks:",
      "      - 'file:rw.img,xvda,w'",
      "      - { vdev: xvdb, target: base.img, overlay: true }",
      "      - { vdev: xvdc, target: ro.img, access: r }",
      "      - { vdev: xvdd, memory: 1M }",
      "",
    ].join("\n"),
  );
  up = await startUp([join(tmp.dir, "disks.yaml"), "--run-dir", runDir]);
}, 90_000);

afterAll(async () => {
  await up?.stop();
  killAll();
  tmp.remove();
});

/** Runs `lines` on alpha's console through a real pty; returns everything seen. */
async function onConsole(lines: readonly [string, string][]): Promise<string> {
  const term = ptySpawn(process.execPath, [...NODE_ARGS, "console", "alpha", "--run-dir", runDir], {
    cwd: PKG_DIR,
    cols: 200,
    rows: 24,
    env: process.env as Record<string, string>,
  });
  let seen = "";
  term.onData((d) => (seen += d));
  const until = async (s: string): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!seen.includes(s)) {
      if (Date.now() > deadline)
        throw new Error(`no ${JSON.stringify(s)} on the console; saw ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await until("Ctrl-] detaches]");
    for (const [cmd, answer] of lines) {
      term.write(`${cmd}\r`);
      await until(`${cmd}\r\n${answer}\r\nalpha# `);
    }
    term.write("\x1d");
    await until("[detached from d1 alpha]");
  } finally {
    term.kill();
  }
  return seen;
}

describe("pvkit up with disks", () => {
  it("says what serves each disk", () => {
    const o = up.output();
    expect(o).toContain("with xenstored, xenconsoled and blkback");
    expect(o).toContain(
      `disk xvda (vbd/51712): file ${join(tmp.dir, "rw.img")} (read-write), served by blkback in dom0`,
    );
    expect(o).toContain(
      `disk xvdb (vbd/51728): overlay (copy-on-write in memory) over file ${join(tmp.dir, "base.img")}, which stays unmodified (read-write)`,
    );
    expect(o).toContain(`disk xvdc (vbd/51744): file ${join(tmp.dir, "ro.img")} (read-only)`);
    expect(o).toContain("disk xvdd (vbd/51760): memory 1048576 bytes (read-write)");
  });

  it("lists every disk Connected on both ends with its size", async () => {
    const r = await runCli(["list", "--run-dir", runDir]);
    expect(r.code, r.stderr).toBe(0);
    const devs = r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("vbd/"));
    expect(devs).toEqual([
      "vbd/51712 (xvda) frontend Connected, backend Connected, 64 KiB (128 sectors, 512-byte logical)",
      "vbd/51728 (xvdb) frontend Connected, backend Connected, 64 KiB (128 sectors, 512-byte logical)",
      "vbd/51744 (xvdc) frontend Connected, backend Connected, 64 KiB (128 sectors, 512-byte logical)",
      "vbd/51760 (xvdd) frontend Connected, backend Connected, 1 MiB (2048 sectors, 512-byte logical)",
    ]);
  });

  it("writes through blkfront from the console: into the rw image, into the overlay only, refused on the read-only disk", async () => {
    await onConsole([
      [
        "disks",
        "xvda vbd/51712: 64 KiB (128 sectors of 512 bytes), read-write, connected\r\nxvdb vbd/51728: 64 KiB (128 sectors of 512 bytes), read-write, connected\r\nxvdc vbd/51744: 64 KiB (128 sectors of 512 bytes), read-only, connected\r\nxvdd vbd/51760: 1 MiB (2048 sectors of 512 bytes), read-write, connected",
      ],
      ["write xvda 1000 hello-rw-disk", "wrote 13 bytes at 1000 of xvda, flushed"],
      ["read xvda 1000 13", "hello-rw-disk"],
      ["write xvdb 0 overlay-bytes", "wrote 13 bytes at 0 of xvdb, flushed"],
      ["read xvdb 0 13", "overlay-bytes"],
      ["write xvdd 4096 in-memory", "wrote 9 bytes at 4096 of xvdd, flushed"],
      ["read xvdd 4096 9", "in-memory"],
      ["write xvdc 0 nope", "write: device/vbd/51744: the disk is read-only"],
      ["read xvdq 0 1", "read: xvdq: no such disk (disks lists them)"],
    ]);
  });

  it("destroys the domain at once: every backend closes, no libxl timeout, no virtual time waited", async () => {
    const d = await runCli(["destroy", "alpha", "--run-dir", runDir]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(
      /^destroyed d1 alpha: console\/0 console, vbd\/51712 closed, vbd\/51728 closed, vbd\/51744 closed, vbd\/51760 closed; took 0 ns of virtual time, \d+ ms real\n$/,
    );
    expect(Number(/(\d+) ms real/.exec(d.stdout)![1])).toBeLessThan(2000);
  });

  it("left the overlay's and the read-only disk's images untouched and the rw image changed by exactly what was written", () => {
    expect(readFileSync(join(tmp.dir, "base.img")).equals(before.get("base.img")!)).toBe(true);
    expect(readFileSync(join(tmp.dir, "ro.img")).equals(before.get("ro.img")!)).toBe(true);
    const want = Buffer.from(before.get("rw.img")!);
    want.write("hello-rw-disk", 1000, "latin1");
    const got = readFileSync(join(tmp.dir, "rw.img"));
    expect(got.length).toBe(64 * KIB);
    expect(got.subarray(1000, 1013).toString("latin1")).toBe("hello-rw-disk");
    expect(got.equals(want)).toBe(true);
  });
});
