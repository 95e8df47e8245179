// The config shown in this package's README is a valid config (so the docs cannot drift).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { loadConfig } from "pvkit/config";
import { docBlocks } from "../../../../scripts/doc-blocks.js";

it("accepts the README's example config, with its four disks", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const yaml = docBlocks(readme).find((b) => b.lang === "yaml")!.body;
  const dir = mkdtempSync(join(tmpdir(), "pvkit-readme-config-"));
  try {
    for (const img of ["rw.img", "base.img", "ro.img"])
      writeFileSync(join(dir, img), Buffer.alloc(64 * 1024));
    writeFileSync(join(dir, "host.yaml"), yaml);
    const cfg = loadConfig(join(dir, "host.yaml"));
    expect(cfg.domains.map((d) => [d.name, d.memory, d.vcpus, d.disks.length])).toEqual([
      ["alpha", 64, 1, 4],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
