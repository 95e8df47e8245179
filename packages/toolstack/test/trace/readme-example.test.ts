// The "Traces" example of README.md, run as written (the file goes to a temporary directory,
// console.log is replaced by `log`).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chromeTraceJson, createHost, exportChromeTrace, recordTrace, summarizeTrace } from "@pvkit/toolstack";
import { validateChromeTrace } from "./chrome-validator.js";

describe("README traces example", () => {
  it("writes a valid trace with the driver's span and prints a summary", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pvkit-readme-trace-"));
    const out: string[] = [];
    const log = (s: string): void => void out.push(s);
    try {
      {
        await using host = await createHost({ chaos: { seed: 7 } });
        using rec = recordTrace(host, { maxEvents: 100_000 });
        const d = await host.createDomain({ name: "guest", main: (ctx) => ctx.xenbus.write("data/hello", "world") });
        await host.until(d.done);
        rec.span(d.domid, "my-driver", "setup", 0, host.hv.now);
        rec.stop();
        writeFileSync(join(dir, "run.json"), chromeTraceJson(rec.snapshot()));
        log(summarizeTrace(exportChromeTrace(rec.snapshot())).join("\n"));
      }
      const json = readFileSync(join(dir, "run.json"), "utf8");
      expect(validateChromeTrace(json)).toEqual([]);
      expect(json).toContain('"name":"setup","cat":"span"');
      expect(out).toHaveLength(1);
      expect(out[0]).toMatch(/^trace: \d+ events, virtual time 0\.\.\d+ ns, 0 records dropped, seed 7\nhypercalls: \d+\n/);
      expect(out[0]).toContain("slowest spans:\n  setup (d1 (guest) my-driver)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
