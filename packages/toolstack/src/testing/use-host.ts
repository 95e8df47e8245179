/**
 * vitest wiring: a fresh host for every test in the enclosing `describe` (or file), torn down
 * after it with leak checks; a leak fails the test with the list.
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
  afterEach(async () => {
    const t = current;
    current = undefined;
    if (t) await t.finish();
  });
  return () => {
    if (current === undefined) throw new Error("useHost(): the host exists only while a test runs");
    return current.host;
  };
}
