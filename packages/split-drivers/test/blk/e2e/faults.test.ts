// Fault injection against the real blk pair: each fault of the test host (xenstore EAGAIN
// storms, grant map failures, storage errors and slow I/O), with exact outcomes pinned per seed,
// and the disk still serving correct data afterwards with no leak and no sanitizer finding.
import { describe, expect, it } from "vitest";
import { createTestHost } from "@pvkit/toolstack/testing";
import { runBlkFaults } from "./fault-scenario.js";

describe("blk e2e: fault injection", () => {
  it("fails exactly the storage operations FaultyStorage is told to, and the disk keeps serving", async () => {
    const t = await createTestHost({ seed: 5 });
    const run = await runBlkFaults(t, { storage: { failAt: [3, 20] } });
    await t.finish();
    expect(run.storageFailed).toEqual([3, 20]);
    expect(run.outcomes.filter((o) => o !== "ok")).toEqual(["io-error", "io-error"]);
    expect(run.outcomes.length).toBe(32);
  });

  it("answers a seeded fraction of storage operations with EIO, the same ones for the same seed", async () => {
    const runs = [];
    for (const seed of [11, 11, 12]) {
      const t = await createTestHost({ seed });
      runs.push(await runBlkFaults(t, { storage: { failRate: 0.2 } }));
      await t.finish();
    }
    expect(runs[0]!.storageFailed).toEqual(runs[1]!.storageFailed);
    expect(runs[0]!.outcomes).toEqual(runs[1]!.outcomes);
    expect(runs[0]!.storageFailed).not.toEqual(runs[2]!.storageFailed);
    expect(runs[0]!.storageFailed).toEqual([1, 6, 8, 19, 22, 24, 25]);
    expect(runs[0]!.outcomes.filter((o) => o === "io-error").length).toBe(7);
  });

  it("delays storage operations in virtual time without any failing", async () => {
    const fast = await createTestHost({ seed: 3 });
    const a = await runBlkFaults(fast);
    await fast.finish();
    const slow = await createTestHost({ seed: 3 });
    const b = await runBlkFaults(slow, { storage: { delayNs: { min: 100_000, max: 2_000_000 } } });
    await slow.finish();
    expect(b.outcomes.every((o) => o === "ok")).toBe(true);
    expect(a.outcomes.every((o) => o === "ok")).toBe(true);
    expect(b.endNs - a.endNs).toBe(3_878_517);
  });

  it.each(["GNTST_eagain", "GNTST_no_space", "GNTST_bad_gntref"] as const)(
    "fails only the requests whose grant map failed with %s (blkback's 5th and 9th maps)",
    async (status) => {
      const t = await createTestHost({
        seed: 2,
        faults: { grantMapFailure: { nth: [5, 9], status, mapper: 0 } },
      });
      const run = await runBlkFaults(t);
      await t.finish();
      expect(t.faults.injected.grantMap).toBe(2);
      expect(run.outcomes.map((o, i) => (o === "ok" ? "" : `${i}:${o}`)).filter(Boolean)).toEqual([
        "0:io-error",
        "7:io-error",
      ]);
    },
  );

  it("connects through a xenstore EAGAIN storm on the guest's commits (bounded retry)", async () => {
    const t = await createTestHost({ seed: 9, faults: { xenstoreEagain: { rate: 0.5 } } });
    const run = await runBlkFaults(t);
    await t.finish();
    expect(t.faults.injected).toEqual({
      xenstoreEagain: 1,
      xenstoreCommits: 4,
      grantMap: 0,
      grantMapsSeen: 0,
    });
    expect(run.outcomes.every((o) => o === "ok")).toBe(true);
  });
});
