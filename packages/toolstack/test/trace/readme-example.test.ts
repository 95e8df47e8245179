// The "Traces" example of README.md, run from the README's own text (scripts/doc-blocks.ts).
// Its `writeFileSync` is the test's: the trace it writes is kept here and checked, not written
// to run.json in the working directory.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as toolstack from "@pvkit/toolstack";
import { validateChromeTrace } from "./chrome-validator.js";
import { runExample } from "../../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README traces example", () => {
  it("writes a valid trace with the driver's span and prints a summary", async () => {
    const written = new Map<string, string>();
    const fs = {
      writeFileSync: (path: string, data: string): void => void written.set(path, data),
    };
    const { printed } = await runExample(readme, "traces", {
      "node:fs": fs,
      "@pvkit/toolstack": toolstack,
    });
    expect([...written.keys()]).toEqual(["run.json"]);
    const json = written.get("run.json")!;
    expect(validateChromeTrace(json)).toEqual([]);
    expect(json).toContain('"name":"setup","cat":"span"');
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatch(
      /^trace: \d+ events, virtual time 0\.\.\d+ ns, 0 records dropped, seed 7\nhypercalls: \d+\n/,
    );
    expect(printed[0]).toContain("slowest spans:\n  setup (d1 (guest) my-driver)");
    // Same seed, same bytes: a second run writes the identical trace.
    const again = new Map<string, string>();
    await runExample(readme, "traces", {
      "node:fs": { writeFileSync: (p: string, d: string) => void again.set(p, d) },
      "@pvkit/toolstack": toolstack,
    });
    expect(again.get("run.json")).toBe(json);
  });
});
