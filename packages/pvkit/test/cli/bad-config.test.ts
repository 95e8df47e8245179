// `pvkit up` with configs that cannot be used: each names the file, the field (with its line) and
// the reason on stderr, exits 1, and leaves no host behind.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { killAll, runCli, tempDir } from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("pvkit-badcfg-");
  writeFileSync(join(tmp.dir, "disk.img"), Buffer.alloc(4096));
  writeFileSync(join(tmp.dir, "odd.img"), Buffer.alloc(1000));
});
afterEach(killAll);
afterAll(() => tmp.remove());

/** Writes `text` as `name` and runs `pvkit up` on it with its own run directory. */
async function upWith(name: string, text: string) {
  const file = join(tmp.dir, name);
  writeFileSync(file, text);
  const runDir = join(tmp.dir, `run-${name}`);
  const r = await runCli(["up", file, "--run-dir", runDir]);
  return { ...r, file, runDir };
}

describe("pvkit up with a bad config", () => {
  const cases: [string, string, string, RegExp][] = [
    [
      "memory.yaml",
      "domains:\n  - name: g\n    memory: 0\n",
      "domains[0].memory (line 3)",
      /must be 1\.\.512 MiB/,
    ],
    [
      "vcpus.json",
      '{"domains": [{"name": "g", "vcpus": 1.5}]}',
      "domains[0].vcpus (line 1)",
      /must be a whole number of vCPUs/,
    ],
    [
      "unknown.yaml",
      "domains:\n  - name: g\n    memroy: 8\n",
      "domains[0].memroy (line 3)",
      /unknown field "memroy"/,
    ],
    [
      "name.yaml",
      "domains:\n  - name: 'bad name'\n",
      "domains[0].name (line 2)",
      /must be 1-64 letters/,
    ],
    [
      "dup.yaml",
      "domains:\n  - name: g\n  - name: g\n",
      "domains[1].name (line 3)",
      /already the name of another domain/,
    ],
    [
      "vdev.yaml",
      "domains:\n  - name: g\n    disks:\n      - { vdev: floppy0, memory: 1M }\n",
      "domains[0].disks[0].vdev (line 4)",
      /cannot encode vbd name "floppy0"/,
    ],
    [
      "xlspec.yaml",
      "domains:\n  - name: g\n    disks: ['disk.img,xvda,w']\n",
      "domains[0].disks[0] (line 3)",
      /xl disk spec "disk\.img,xvda,w": unknown value for format/,
    ],
    [
      "samedev.yaml",
      "domains:\n  - name: g\n    disks: ['memory:1M,,xvda', 'memory:1M,,51712']\n",
      "domains[0].disks[1].vdev",
      /51712 is the same device as xvda/,
    ],
    [
      "neither.yaml",
      "domains:\n  - name: g\n    disks: [{ vdev: xvda }]\n",
      "domains[0].disks[0] (line 3)",
      /exactly one of target .* or memory/,
    ],
    [
      "missing.yaml",
      "domains:\n  - name: g\n    disks: ['file:nope.img,xvda,w']\n",
      "domains[0].disks[0] (line 3)",
      /xvda: image file .*nope\.img does not exist/,
    ],
    [
      "odd.yaml",
      "domains:\n  - name: g\n    disks: ['file:odd.img,xvda,w']\n",
      "domains[0].disks[0]",
      /is 1000 bytes, not a whole number of 512-byte sectors/,
    ],
    [
      "kernel.yaml",
      "domains:\n  - name: g\n    kernel: ./nokernel.js\n",
      "domains[0].kernel (line 3)",
      /nokernel\.js does not exist/,
    ],
    ["syntax.yaml", "domains: [\n", "(file)", /not valid YAML or JSON/],
    ["list.yaml", "- 1\n- 2\n", "(file)", /must be a mapping with `domains`/],
  ];
  for (const [name, text, field, reason] of cases) {
    it(`names the file, ${field} and the reason for ${name}, and exits 1`, async () => {
      const r = await upWith(name, text);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`pvkit: bad config ${r.file}:`);
      expect(r.stderr).toContain(`  ${field}`);
      expect(r.stderr).toMatch(reason);
      // Nothing was started: no sockets in the run directory.
      expect(existsSync(join(r.runDir, "control"))).toBe(false);
    });
  }

  it("names a config file that does not exist", async () => {
    const r = await runCli([
      "up",
      join(tmp.dir, "absent.yaml"),
      "--run-dir",
      join(tmp.dir, "run-absent"),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `pvkit: bad config ${join(tmp.dir, "absent.yaml")}:\n  (file): no such file\n`,
    );
  });

  it("accepts a good config of one domain on its own, as xl create takes it", async () => {
    // `create` validates locally before it looks for a host: a good config gets as far as the socket.
    writeFileSync(
      join(tmp.dir, "one.yaml"),
      "name: solo\nmemory: 8\ndisks: ['file:disk.img,xvda,r']\n",
    );
    const r = await runCli([
      "create",
      join(tmp.dir, "one.yaml"),
      "--run-dir",
      join(tmp.dir, "run-none"),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /cannot reach the control socket .*run-none\/control: no pvkit host is running there/,
    );
  });
});
