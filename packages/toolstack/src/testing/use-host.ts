/**
 * vitest wiring: a fresh host for every test in the enclosing `describe` (or file), torn down
 * after it with leak checks; a leak fails the test with the list. A test that fails (a timeout
 * included) while its host is stalled — quiescent with nothing left to run — also gets a
 * StallError saying what each domain was blocked on. The sanitizer is on (its unexpected findings
 * fail the test too) unless `opts.sanitizer` is false. A failed test gets one more error naming
 * the host's seed and the command that reruns it with that seed (`PVKIT_SEED=N pnpm vitest run
 * <file> -t "<name>"`).
 *
 * ```ts
 * const host = useHost();
 * it("builds a domain", async () => {
 *   const d = await host().createDomain({ name: "g" });
 * });
 * ```
 */
import { afterEach, beforeEach } from "vitest";
import type { Host } from "../host/host.js";
import { taskLocation } from "./seed.js";
import { createTestHost, type TestHost, type TestHostOptions } from "./test-host.js";

/**
 * Registers `beforeEach`/`afterEach` hooks and returns a getter for the current test's host.
 * @throws Error from the getter outside a test.
 */
export function useHost(opts: TestHostOptions = {}): () => Host {
  let current: TestHost | undefined;
  beforeEach(async () => {
    current = await createTestHost(opts);
  });
  afterEach(async (ctx) => {
    const t = current;
    current = undefined;
    if (t === undefined) return;
    const failed = (ctx.task.result?.errors?.length ?? 0) > 0;
    const at = taskLocation(ctx.task);
    const stall = failed ? t.stallReport() : undefined;
    try {
      await t.finish();
    } catch (err) {
      throw t.withSeed(err, at);
    }
    if (stall) throw t.withSeed(stall, at);
    // The test's own error: the seed and the rerun command as one more error of the test.
    if (failed && t.host.options.seed !== undefined)
      throw t.withSeed(new Error("this test failed"), at);
  });
  return () => {
    if (current === undefined) throw new Error("useHost(): the host exists only while a test runs");
    return current.host;
  };
}
