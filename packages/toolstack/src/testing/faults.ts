/**
 * Fault injection of the test host (`createTestHost({ faults })`): xenstore EAGAIN storms on
 * commit and grant map failures at the n-th map. Each fault draws from its own generator,
 * seeded from the host's seed (seed.ts) unless `faults.seed` is given, so a seed fixes which
 * commits and maps fail.
 *
 * ```ts
 * await using t = await createTestHost({
 *   seed: 7,
 *   faults: {
 *     xenstoreEagain: { rate: 0.3 },                           // 30% of guest commits: EAGAIN
 *     grantMapFailure: { nth: [3], status: "GNTST_eagain" },    // the 3rd map fails
 *   },
 * });
 * t.faults.injected; // { xenstoreEagain: 4, grantMap: 1 }
 * ```
 *
 * Storage faults wrap a storage (`FaultyStorage`, @pvkit/split-drivers); a hostile peer and a
 * backend crash and restart (its driver only, or its whole driver domain, at a seeded point) are
 * helpers a test calls (hostile-peer.ts; backend-restart.ts: `restartBackendDriver`,
 * `restartDriverDomain`, `scheduleBackendCrash`).
 */
import {
  Rng,
  setGrantMapFaultHook,
  GRANT_MAP_FAULT_STATUSES,
  type GrantMapAttempt,
  type GrantMapFaultStatus,
  type Hypervisor,
} from "@pvkit/hypervisor-sim";
import { subSeed } from "./seed.js";

/** xenstored answers EAGAIN to a fraction of TRANSACTION_END commits. */
export interface XenstoreEagainFault {
  /** Probability in [0, 1] that a commit fails with EAGAIN (1: every commit, a storm). */
  readonly rate: number;
  /**
   * Connections whose commits may fail, by `conn->id` (the domid; 0 is dom0's tools and
   * backends). Default: every guest (id != 0), so the toolstack's own transactions go through.
   */
  readonly connIds?: readonly number[];
}

/** The n-th map of a grant (counting the maps the filter selects) fails with `status`. */
export interface GrantMapFailureFault {
  /** Which maps fail, 1-based: one ordinal or several. */
  readonly nth: number | readonly number[];
  /** The status Xen returns (see hypervisor-sim's map-fault-hook.ts for where Xen makes each). */
  readonly status: GrantMapFaultStatus;
  /** Count only maps by this domain (the backend's). Default: every mapper. */
  readonly mapper?: number;
  /** Count only maps of this granter's grants. Default: every granter. */
  readonly granter?: number;
}

/** The test host's `faults` option. */
export interface FaultOptions {
  /** Seed of the fault generators. Default: derived from the test host's seed. */
  readonly seed?: number;
  readonly xenstoreEagain?: XenstoreEagainFault;
  readonly grantMapFailure?: GrantMapFailureFault;
}

/** What was injected so far (exact, for seed-pinned assertions). */
export interface InjectedFaults {
  /** Commits answered EAGAIN by injection. */
  xenstoreEagain: number;
  /** Commits the hook let through. */
  xenstoreCommits: number;
  /** Map elements failed by injection. */
  grantMap: number;
  /** Map elements counted by the grant map filter (failed or not). */
  grantMapsSeen: number;
}

/** The installed faults of a test host. */
export interface HostFaults {
  /** The seed the generators were seeded from. */
  readonly seed: number;
  readonly injected: Readonly<InjectedFaults>;
  /** Stops injecting (the hooks stay but answer "no fault"); the counters stay. */
  disable(): void;
}

/** @throws RangeError for a bad option. */
function validate(o: FaultOptions): void {
  const x = o.xenstoreEagain;
  if (x !== undefined && !(typeof x.rate === "number" && x.rate >= 0 && x.rate <= 1))
    throw new RangeError(`faults.xenstoreEagain.rate must be in [0, 1], got ${String(x.rate)}`);
  const g = o.grantMapFailure;
  if (g !== undefined) {
    const nths = typeof g.nth === "number" ? [g.nth] : g.nth;
    if (nths.length === 0 || nths.some((n) => !Number.isInteger(n) || n < 1))
      throw new RangeError(
        `faults.grantMapFailure.nth must be positive integers, got ${JSON.stringify(g.nth)}`,
      );
    if (!GRANT_MAP_FAULT_STATUSES.includes(g.status))
      throw new RangeError(
        `faults.grantMapFailure.status must be one of ${GRANT_MAP_FAULT_STATUSES.join(", ")}, got ${String(g.status)}`,
      );
  }
}

/**
 * The xenstored commit hook for `o` (to pass as HostOptions.xenstoreCommitFault) and the
 * faults handle; {@link installGrantMapFault} completes it once the hypervisor exists.
 * @throws RangeError for a bad option.
 */
export function prepareFaults(
  o: FaultOptions,
  hostSeed: number,
): {
  faults: HostFaults;
  commitFault: ((connId: number) => boolean) | undefined;
  install(hv: Hypervisor): void;
} {
  validate(o);
  const seed = o.seed ?? subSeed(hostSeed, "faults");
  const injected: InjectedFaults = {
    xenstoreEagain: 0,
    xenstoreCommits: 0,
    grantMap: 0,
    grantMapsSeen: 0,
  };
  let enabled = true;
  const faults: HostFaults = { seed, injected, disable: () => void (enabled = false) };
  const x = o.xenstoreEagain;
  let commitFault: ((connId: number) => boolean) | undefined;
  if (x !== undefined) {
    const rng = new Rng(subSeed(seed, "xenstore-eagain"));
    const ids = x.connIds === undefined ? undefined : new Set(x.connIds);
    commitFault = (connId) => {
      if (!enabled || (ids ? !ids.has(connId) : connId === 0)) return false;
      // One draw per eligible commit, whatever the rate, so the stream depends only on the commits.
      const fail = rng.nextU32() / 0x1_0000_0000 < x.rate;
      if (fail) injected.xenstoreEagain++;
      else injected.xenstoreCommits++;
      return fail;
    };
  }
  const g = o.grantMapFailure;
  const install = (hv: Hypervisor): void => {
    if (g === undefined) return;
    const nths = new Set(typeof g.nth === "number" ? [g.nth] : g.nth);
    setGrantMapFaultHook(hv, (a: GrantMapAttempt) => {
      if (
        !enabled ||
        (g.mapper !== undefined && a.mapper !== g.mapper) ||
        (g.granter !== undefined && a.granter !== g.granter)
      )
        return undefined;
      const n = ++injected.grantMapsSeen;
      if (!nths.has(n)) return undefined;
      injected.grantMap++;
      return g.status;
    });
  };
  return { faults, commitFault, install };
}

/** A handle for a host with no faults (zero counters). */
export function noFaults(seed: number): HostFaults {
  return {
    seed,
    injected: { xenstoreEagain: 0, xenstoreCommits: 0, grantMap: 0, grantMapsSeen: 0 },
    disable: () => undefined,
  };
}
