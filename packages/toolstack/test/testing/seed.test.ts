import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createTestHost, rerunCommand, resolveSeed, withHost } from "@pvkit/toolstack/testing";

describe("test host seeds", () => {
  it("uses PVKIT_SEED over the seed option, and 1 when neither is given", () => {
    expect(resolveSeed(undefined, {})).toBe(1);
    expect(resolveSeed(7, {})).toBe(7);
    expect(resolveSeed(7, { PVKIT_SEED: "1234" })).toBe(1234);
    expect(resolveSeed(undefined, { PVKIT_SEED: "0x10" })).toBe(16);
    expect(() => resolveSeed(undefined, { PVKIT_SEED: "-3" })).toThrow(RangeError);
  });

  it("prints the rerun command with the file relative to the cwd and the name escaped and anchored", () => {
    expect(
      rerunCommand(99, { file: `${process.cwd()}/test/x.test.ts`, name: "seeds does (X) when Y" }),
    ).toBe('PVKIT_SEED=99 pnpm vitest run test/x.test.ts -t "^seeds does \\\\(X\\\\) when Y$"');
  });

  it("adds the seed and the rerun command to a failing withHost's error", async () => {
    const err = await withHost(
      () => {
        throw new Error("boom");
      },
      { seed: 31 },
    ).catch((e: unknown) => e as Error);
    // the test that made the host, from vitest: this file, and the describe's name and the test's
    expect(err.message).toBe(
      `boom\nseed 31; rerun: PVKIT_SEED=31 pnpm vitest run ${relative(process.cwd(), fileURLToPath(import.meta.url))} -t "^test host seeds adds the seed and the rerun command to a failing withHost's error$"`,
    );
    const t = await createTestHost({ seed: 5 });
    expect(t.seed).toBe(5);
    expect(t.host.options.seed).toBe(5);
    await t.finish();
  });
});
