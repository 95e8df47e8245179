/**
 * vitest fixtures for a sanitized host (`test.extend`): `host` is a fresh test host per test,
 * torn down after it with the leak checks and the sanitizer, whose unexpected findings fail the
 * test with their messages; `sanitizer` is that host's sanitizer.
 *
 * ```ts
 * import { hostTest as it } from "@pvkit/toolstack/testing";
 * it("connects", async ({ host }) => { ... });
 * it("notices the skipped notify", async ({ host, sanitizer }) => {
 *   sanitizer.expect("lost-wakeup");
 *   ...
 * });
 * ```
 */
import { test } from "vitest";
import type { Host } from "../../host/host.js";
import { taskLocation } from "../seed.js";
import { createTestHost, type TestHostOptions } from "../test-host.js";
import type { FindingKind } from "./findings.js";
import { type Sanitizer, sanitizerOf } from "./sanitizer.js";

/** What {@link hostTest} gives each test. */
export interface HostFixtures {
  host: Host;
  sanitizer: Sanitizer;
}

/** `test.extend` with a host made with `opts` (the sanitizer cannot be turned off here). */
export function hostTestWith(
  opts: Omit<TestHostOptions, "sanitizer"> & {
    sanitizer?: Exclude<TestHostOptions["sanitizer"], false>;
  } = {},
) {
  return test.extend<HostFixtures>({
    host: async ({ task }, use) => {
      const t = await createTestHost(opts);
      const at = taskLocation(task);
      try {
        await use(t.host);
      } catch (err) {
        await t.finish().catch(() => undefined);
        throw t.withSeed(err, at);
      }
      try {
        await t.finish();
      } catch (err) {
        throw t.withSeed(err, at);
      }
      if ((task.result?.errors?.length ?? 0) > 0 && t.host.options.seed !== undefined)
        throw t.withSeed(new Error("this test failed"), at);
    },
    sanitizer: async ({ host }, use) => {
      await use(sanitizerOf(host)!);
    },
  });
}

type HostTest = ReturnType<typeof hostTestWith>;
let made: HostTest | undefined;
const real = (): HostTest => (made ??= hostTestWith());

/**
 * The default sanitized-host test: `hostTest("does X", async ({ host, sanitizer }) => ...)`.
 * Made on first use, so that importing the testing entry point outside vitest (a script
 * calling `createTestHost`) does not need vitest's runner (`test.extend` does).
 */
export const hostTest: HostTest = new Proxy(function hostTest() {} as unknown as HostTest, {
  apply: (_t, self, args) =>
    Reflect.apply(real() as unknown as (...a: unknown[]) => unknown, self, args),
  get: (_t, key) => Reflect.get(real(), key) as unknown,
  has: (_t, key) => Reflect.has(real(), key),
});

/**
 * Announces that the test provokes findings of `kind` on purpose (see `Sanitizer.expect`).
 * @throws Error when `host` has no sanitizer.
 */
export function expectFinding(host: Host, kind: FindingKind, atLeast = 1): void {
  const s = sanitizerOf(host);
  if (s === undefined)
    throw new Error("expectFinding: this host has no sanitizer (created with sanitizer: false?)");
  s.expect(kind, atLeast);
}
