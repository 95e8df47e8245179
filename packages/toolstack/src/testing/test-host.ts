/**
 * A host per test, torn down with leak checks: `withHost(fn)` for one block, `createTestHost()`
 * for a handle with an explicit `finish()`, and `useHost()` (use-host.ts) for vitest's hooks.
 */
import { StallError } from "@pvkit/hypervisor-sim";
import { createHost, type Host } from "../host/host.js";
import type { HostOptions } from "../host/host-options.js";
import { checkLeaks, LeakError, type LeakCheckOptions, type LeakReport } from "./leak-check.js";

/** Host options plus leak-check options. */
export interface TestHostOptions extends HostOptions, LeakCheckOptions {
  /** Run the leak checks at teardown. Default true. */
  readonly leakChecks?: boolean;
}

/** A host with a teardown that checks for leaks. */
export interface TestHost extends AsyncDisposable {
  readonly host: Host;
  /**
   * Destroys what is left, checks for leaks, closes the host, and throws LeakError when any
   * were found. Idempotent (later calls return the first result).
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
  const host = await createHost(opts);
  let finished: Promise<LeakReport> | undefined;
  const finish = (): Promise<LeakReport> => {
    finished ??= (async () => {
      const empty: LeakReport = { leaks: [], destroyedAtTeardown: [], teardownTimeouts: [] };
      let report = empty;
      try {
        if (opts.leakChecks !== false) report = await checkLeaks(host, leakOptions(opts));
      } finally {
        await host.close();
      }
      if (report.leaks.length > 0) throw new LeakError(report.leaks);
      return report;
    })();
    return finished;
  };
  const stallReport = (): StallError | undefined => {
    const s = host.hv.scheduler;
    return !host.closed && s.stalled ? new StallError("what the test awaited", s.now, host.describeBlocked()) : undefined;
  };
  return { host, finish, stallReport, [Symbol.asyncDispose]: async () => void (await finish()) };
}

/**
 * Runs `fn` with a fresh host, then tears it down with leak checks. `fn`'s own error wins over
 * a leak (the host is closed either way).
 * @throws LeakError when `fn` succeeded but left something behind.
 */
export async function withHost<T>(fn: (host: Host) => Promise<T> | T, opts: TestHostOptions = {}): Promise<T> {
  const t = await createTestHost(opts);
  let result: T;
  try {
    result = await fn(t.host);
  } catch (err) {
    await t.finish().catch(() => undefined);
    throw err;
  }
  await t.finish();
  return result;
}
