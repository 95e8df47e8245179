// The `pnpm fuzz --crash` scenario (crash-scenario.ts) for a few pinned seeds, both forms: the
// backend crashes at the seeded notification with chaos on, blkfront recovers, every request
// settles once with the right data; the same seed replays the same point and outcome.
import { describe, expect, it } from "vitest";
import { createTestHost } from "@pvkit/toolstack/testing";
import { type CrashForm, type CrashRun, runCrash } from "./crash-scenario.js";

async function run(seed: number, form: CrashForm): Promise<CrashRun> {
  const t = await createTestHost({ seed, chaos: true });
  try {
    return await runCrash(t, { form });
  } finally {
    await t.finish();
  }
}

const brief = (r: CrashRun): string =>
  `point ${r.point} fired ${r.fired} reissued ${r.reissued} connections ${r.connections}`;

describe("blk e2e: backend crashes at seeded points (pnpm fuzz --crash)", () => {
  const pinned = [
    [1, "driver", "point 17 fired true reissued 12 connections 2"],
    [2, "domain", "point 19 fired true reissued 10 connections 2"],
    [3, "driver", "point 14 fired true reissued 15 connections 2"],
    [4, "domain", "point 18 fired true reissued 11 connections 2"],
  ] as const;
  for (const [seed, form, want] of pinned) {
    it(`seed ${seed}, ${form} crash: the disk recovers, the same seed replays it`, async () => {
      const r = await run(seed, form);
      expect(brief(r)).toBe(want);
      const again = await run(seed, form);
      expect(brief(again)).toBe(brief(r));
      expect(again.endNs).toBe(r.endNs);
    });
  }
});
