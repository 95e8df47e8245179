// Seeded replay: a blk run with chaos and every fault on, made twice with one seed, gives the
// same Chrome/Perfetto trace byte for byte; another seed gives another trace.
import { describe, expect, it } from "vitest";
import { createTestHost, type TestHostOptions } from "@pvkit/toolstack/testing";
import { runBlkFaults } from "./fault-scenario.js";

export const FAULTY: Omit<TestHostOptions, "seed"> = {
  chaos: true,
  faults: {
    xenstoreEagain: { rate: 0.3 },
    grantMapFailure: { nth: [12], status: "GNTST_eagain", mapper: 0 },
  },
};

async function traced(seed: number): Promise<{ trace: string; outcomes: readonly string[] }> {
  const t = await createTestHost({ seed, ...FAULTY });
  const run = await runBlkFaults(t, {
    trace: true,
    storage: { failRate: 0.1, delayNs: { min: 0, max: 50_000 } },
  });
  await t.finish();
  return { trace: run.trace!, outcomes: run.outcomes };
}

describe("blk e2e: seeded replay", () => {
  it("replays the same trace byte for byte when rerun with the same seed, and another with another seed", async () => {
    const a = await traced(42);
    const b = await traced(42);
    const c = await traced(43);
    expect(a.trace.length).toMatchInlineSnapshot(`279790`);
    expect(b.trace === a.trace).toBe(true);
    expect(b.outcomes).toEqual(a.outcomes);
    expect(c.trace === a.trace).toBe(false);
  });
});
