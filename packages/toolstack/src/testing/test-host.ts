/**
 * A host per test, torn down with leak checks: `withHost(fn)` for one block, `createTestHost()`
 * for a handle with an explicit `finish()`, and `useHost()` (use-host.ts) for vitest's hooks.
 */
import { StallError, type ChaosOptions } from "@pvkit/hypervisor-sim";
import { DEFERRED_RETRY_INTERVAL_NS } from "@pvkit/guest-sdk";
import { createHost, type Host } from "../host/host.js";
import type { HostOptions } from "../host/host-options.js";
import { type FaultOptions, type HostFaults, noFaults, prepareFaults } from "./faults.js";
import { TestRunner } from "vitest";
import { resolveSeed, SEED_ENV, taskLocation, withSeedLine, type TestLocation } from "./seed.js";
import { checkLeaks, LeakError, type LeakCheckOptions, type LeakReport } from "./leak-check.js";
import { SanitizerError } from "./sanitizer/findings.js";
import { Sanitizer, type SanitizerOptions } from "./sanitizer/sanitizer.js";

/** Host options plus leak-check options, the seed, chaos and fault injection. */
export interface TestHostOptions
  extends Omit<HostOptions, "chaos" | "seed" | "xenstoreCommitFault">,
    LeakCheckOptions {
  /**
   * The host's seed (seed.ts): PVKIT_SEED overrides it, default 1. Chaos and faults draw
   * from generators seeded from it; findings and failures print it with a rerun command.
   */
  readonly seed?: number;
  /**
   * Seeded delays and reordering of deliveries (the scheduler's chaos): `true` seeds it from
   * the host's seed; an object may give its own `seed` (else the host's) and `maxDelayNs`.
   * Default off.
   */
  readonly chaos?: boolean | (Partial<ChaosOptions> & Pick<ChaosOptions, "maxDelayNs">);
  /** Fault injection (faults.ts): xenstore EAGAIN storms, grant map failures. Default none. */
  readonly faults?: FaultOptions;
  /** Run the leak checks at teardown. Default true. */
  readonly leakChecks?: boolean;
  /**
   * The sanitizer (sanitizer/sanitizer.ts): on by default; `false` turns it off, an object
   * tunes it. Its unexpected findings fail `finish()` with a SanitizerError.
   */
  readonly sanitizer?: boolean | SanitizerOptions;
}

/** A host with a teardown that checks for leaks. */
export interface TestHost extends AsyncDisposable {
  readonly host: Host;
  /** The seed this host runs with (PVKIT_SEED, the `seed` option, or 1). */
  readonly seed: number;
  /** The injected faults and their counters (zero when `faults` was not given). */
  readonly faults: HostFaults;
  /**
   * Appends "seed N; rerun: PVKIT_SEED=N pnpm vitest run <file> -t <name>" to `err`'s message
   * when the run is seeded (a seed option or PVKIT_SEED, chaos or faults); else returns `err`.
   * Without `at`, the file and name are those of the vitest test that created the host (none
   * outside vitest).
   */
  withSeed(err: unknown, at?: TestLocation): unknown;
  /** The host's sanitizer, unless turned off. */
  readonly sanitizer: Sanitizer | undefined;
  /**
   * Destroys what is left, checks for leaks, closes the host, and throws SanitizerError when
   * the sanitizer found something unexpected (or an expected finding is missing), else
   * LeakError when leaks were found. Idempotent (later calls return the first result).
   */
  finish(): Promise<LeakReport>;
  /**
   * If the host is stalled now (quiescent, nothing left to run or holding the clock), the
   * StallError that says what each domain is blocked on; otherwise (or once closed) undefined.
   */
  stallReport(): StallError | undefined;
}

function leakOptions(o: TestHostOptions): LeakCheckOptions {
  return {
    ...(o.requireDestroyed !== undefined ? { requireDestroyed: o.requireDestroyed } : {}),
    ...(o.teardownTimeoutNs !== undefined ? { teardownTimeoutNs: o.teardownTimeoutNs } : {}),
  };
}

/** Boots a fresh host whose `finish()` runs the leak checks. */
export async function createTestHost(opts: TestHostOptions = {}): Promise<TestHost> {
  const here = currentTestLocation(); // before the first await: the test that asked for the host
  const seed = resolveSeed(opts.seed);
  const prepared = opts.faults ? prepareFaults(opts.faults, seed) : undefined;
  const { chaos: chaosOpt, faults: _faults, seed: _seed, ...rest } = opts;
  const chaos: ChaosOptions | undefined =
    chaosOpt === undefined || chaosOpt === false
      ? undefined
      : chaosOpt === true
        ? { seed }
        : {
            seed: chaosOpt.seed ?? seed,
            ...(chaosOpt.maxDelayNs !== undefined ? { maxDelayNs: chaosOpt.maxDelayNs } : {}),
          };
  // A host that draws nothing random (no seed given, no chaos, no faults) keeps its messages as
  // they were: the seed is printed only when it matters to a rerun.
  const seeded =
    opts.seed !== undefined ||
    (process.env[SEED_ENV] ?? "") !== "" ||
    chaos !== undefined ||
    opts.faults !== undefined;
  const host = await createHost({
    ...rest,
    ...(seeded ? { seed } : {}),
    ...(chaos ? { chaos } : {}),
    ...(prepared?.commitFault ? { xenstoreCommitFault: prepared.commitFault } : {}),
  });
  prepared?.install(host.hv);
  const faults = prepared?.faults ?? noFaults(seed);
  const sanitizer =
    opts.sanitizer === false
      ? undefined
      : new Sanitizer(host, opts.sanitizer === true ? {} : opts.sanitizer);
  let finished: Promise<LeakReport> | undefined;
  const finish = (): Promise<LeakReport> => {
    finished ??= (async () => {
      const empty: LeakReport = { leaks: [], destroyedAtTeardown: [], teardownTimeouts: [] };
      let report = empty;
      try {
        if (sanitizer !== undefined) await runDeferredGrantEnds(host, sanitizer);
        sanitizer?.beforeTeardown();
        if (opts.leakChecks !== false) report = await checkLeaks(host, leakOptions(opts));
        sanitizer?.afterTeardown(report);
      } finally {
        sanitizer?.close();
        await host.close();
      }
      const leak = report.leaks.length > 0 ? new LeakError(report.leaks) : undefined;
      const failure = sanitizerFailure(sanitizer, leak);
      if (failure) throw failure;
      if (leak) throw leak;
      return report;
    })();
    return finished;
  };
  const stallReport = (): StallError | undefined => {
    const s = host.hv.scheduler;
    return !host.closed && s.stalled
      ? new StallError("what the test awaited", s.now, host.describeBlocked())
      : undefined;
  };
  const withSeed = (err: unknown, at: TestLocation = here): unknown =>
    seeded ? withSeedLine(err, seed, at) : err;
  return {
    host,
    seed,
    faults,
    withSeed,
    sanitizer,
    finish,
    stallReport,
    [Symbol.asyncDispose]: async () => void (await finish()),
  };
}

/**
 * A test that ends right after a device was released (an unplug, a backend's Closed) may leave
 * grant ends the framework deferred because the peer still mapped them then; the retry timer
 * ends them within a second of virtual time once the peer has unmapped. Let up to two retries
 * run before the teardown checks when one would end a grant, so a correct driver is not reported
 * for a grant about to end; a grant the peer still maps is reported as it stands (the peer's
 * mapping), with no wait. Not when the host is stalled: a stalled test is checked as it is.
 */
async function runDeferredGrantEnds(host: Host, sanitizer: Sanitizer): Promise<void> {
  const s = host.hv.scheduler;
  for (let i = 0; i < 2 && !host.closed && !s.stalled && sanitizer.endableDeferredGrants() > 0; i++)
    await s.until(new Promise<void>((r) => void s.at(s.now + DEFERRED_RETRY_INTERVAL_NS, r)));
}

/** The vitest test running now (its file and `-t` name), or nothing outside one. */
function currentTestLocation(): TestLocation {
  const test = TestRunner.getCurrentTest();
  return test === undefined ? {} : taskLocation(test);
}

/** The SanitizerError for what `s` found unexpectedly (or expected and missed), with `cause` as its tail. */
export function sanitizerFailure(
  s: Sanitizer | undefined,
  cause?: unknown,
): SanitizerError | undefined {
  if (s === undefined) return undefined;
  const missing = s.missingExpected();
  const found = s.unexpected;
  if (found.length === 0 && missing.length === 0) return undefined;
  const err = new SanitizerError(found, cause);
  if (missing.length > 0) err.message += `\nexpected but not found: ${missing.join(", ")}`;
  return err;
}

/**
 * Runs `fn` with a fresh host, then tears it down with leak checks and the sanitizer's. `fn`'s
 * own error wins over a leak (the host is closed either way); when the sanitizer found
 * something, a SanitizerError listing it is thrown instead, ending with `fn`'s error.
 * @throws SanitizerError or LeakError when `fn` succeeded but the teardown found problems.
 */
export async function withHost<T>(
  fn: (host: Host) => Promise<T> | T,
  opts: TestHostOptions = {},
): Promise<T> {
  const t = await createTestHost(opts);
  let result: T;
  try {
    result = await fn(t.host);
  } catch (err) {
    let teardown: unknown;
    await t.finish().catch((e: unknown) => void (teardown = e));
    // The findings explain the failure (a StallError, say): they lead, the test's error follows.
    if (teardown instanceof SanitizerError && teardown.findings.length > 0)
      throw t.withSeed(new SanitizerError(teardown.findings, err));
    throw t.withSeed(err);
  }
  try {
    await t.finish();
  } catch (err) {
    throw t.withSeed(err);
  }
  return result;
}
