// The console example of README.md, run from the README's own text (scripts/doc-blocks.ts). The
// test's createHost puts the log directory in a temporary one and, when the example's
// `await using` closes the host, settles it and runs the leak checks first.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as drivers from "@pvkit/split-drivers";
import * as toolstack from "@pvkit/toolstack";
import { checkLeaks, type Leak } from "@pvkit/toolstack/testing";
import { runExample } from "../../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README console example", () => {
  it("prints the guest's tty path and logs its line", async () => {
    const logDir = mkdtempSync(join(tmpdir(), "pvkit-readme-"));
    let leaks: readonly Leak[] | undefined;
    const createHost: typeof toolstack.createHost = async (opts) => {
      expect(opts?.xenconsoled).toEqual({ logDir: "/tmp/pvkit-logs" });
      const h = await toolstack.createHost({ ...opts, xenconsoled: { logDir } });
      const close = h.close.bind(h);
      h.close = async () => {
        await h.hv.settle();
        leaks ??= (await checkLeaks(h)).leaks;
        return close();
      };
      return h;
    };
    try {
      const { printed } = await runExample(readme, "console", {
        "@pvkit/split-drivers": drivers,
        "@pvkit/toolstack": { ...toolstack, createHost },
      });
      expect(printed).toHaveLength(1);
      expect(printed[0]).toMatch(/^\/dev\/pts\/\d+$/);
      expect(readFileSync(join(logDir, "guest-hello.log"), "latin1")).toBe(
        "hello from the guest\r\n",
      );
      expect(leaks).toEqual([]);
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});
