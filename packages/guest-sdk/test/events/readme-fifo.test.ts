// The "FIFO event channels" example of README.md, run from the README's own text
// (scripts/doc-blocks.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as sim from "@pvkit/hypervisor-sim";
import * as sdk from "@pvkit/guest-sdk";
import type { EventChannels } from "@pvkit/guest-sdk";
import { runExample } from "../../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README FIFO example", () => {
  it("runs and prints what the README says", async () => {
    const { printed, vars } = await runExample(readme, "fifo", {
      "@pvkit/hypervisor-sim": sim,
      "@pvkit/guest-sdk": sdk,
    });
    expect(printed).toEqual([["urgent", "bulk"]]);
    expect((vars["ev"] as EventChannels).abi).toBe("fifo");
  });
});
