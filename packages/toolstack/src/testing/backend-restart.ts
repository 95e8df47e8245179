/**
 * Fault injection: a backend crashes and restarts, in either of its two forms.
 *
 * - **Driver only** ({@link restartBackendDriver}): the backend driver in its domain (dom0, say)
 *   dies as a crashed process does — no xenbus Closing or Closed is written, its grant mappings,
 *   ports and watches are dropped (`XenbusBus.crash()`, then its xenstore connection closed) —
 *   and a fresh instance is started in the same domain. As `xenbus_probe_node` probes only a
 *   device in Initialising, the toolstack hands each backend directory the dead instance served
 *   to the new one by resetting its `state` to Initialising, and starts the new instance once the
 *   frontends have let go of the dead connection (a frontend that sees its backend back at
 *   Initialising takes its requests back and closes: the xenbus driver framework's walks.ts).
 * - **Driver domain** ({@link restartDriverDomain}): the backend's whole domain is destroyed
 *   (`host.destroyDomain`: the hypervisor drops everything it mapped and bound, its xenstore
 *   home goes), a new driver domain is built, and each device is re-attached against it as
 *   libxl would (`libxl__device_generic_add`: the frontend directory rewritten with `state`
 *   Initialising and the new `backend` / `backend-id`, a fresh backend directory).
 *
 * Either way a frontend must recover: blkfront re-issues what was in flight (`blkif_recover`:
 * nothing acknowledged lost, nothing completed twice), the console reconnects.
 *
 * {@link scheduleBackendCrash} fires either at a seeded point — a virtual time, or the n-th
 * notification a domain receives — as the fuzzer's `--crash` mode does.
 *
 * ```ts
 * const crash = scheduleBackendCrash(t.host, {
 *   seed: t.seed,
 *   at: { notifications: [4, 40], domid: guest.domid },
 *   run: () => restartBackendDriver(t.host, {
 *     types: ["vbd"],
 *     crash: () => { served.bus.crash(); xs.close(); },
 *     start: () => serveBlkback(t.host, { xs: (xs = LocalXenbusTransport.open(t.host)) }),
 *   }),
 * });
 * // ... I/O ...
 * await t.host.until(crash.done, "the backend restart");
 * ```
 */
import { Rng, type RaiseTrace } from "@pvkit/hypervisor-sim";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import type { Host } from "../host/host.js";
import type { DestroyOptions, DestroyReport } from "../host/domain-handle.js";
import type { DeviceSpec } from "../host/device-spec.js";
import { attachDevice } from "../host/device-hotplug.js";
import type { DevicePaths } from "../host/device-add.js";
import { subSeed } from "./seed.js";

/** Default wait for the frontends to let go of a crashed backend's connection: 1 s (virtual). */
export const DEFAULT_FRONTEND_LET_GO_NS = 1_000_000_000;

/** Options of {@link restartBackendDriver}. */
export interface DriverRestartOptions<T> {
  /**
   * Kills the running instance abruptly and synchronously: for a framework backend
   * `() => { bus.crash(); xs.close(); }` (XenbusBus.crash of @pvkit/guest-sdk); for a daemon,
   * whatever drops its mappings and ports without writing to xenstore.
   */
  readonly crash: () => void;
  /** Starts the fresh instance in the same domain. */
  readonly start: () => T;
  /** The device types the instance served (`backend/<type>/...`), e.g. `["vbd"]`. */
  readonly types: readonly string[];
  /** The backend's domain. Default 0. */
  readonly backDomid?: number;
  /**
   * How long, in virtual ns, to wait for every frontend to leave Initialised / Connected before
   * starting the new instance anyway. Default {@link DEFAULT_FRONTEND_LET_GO_NS}.
   */
  readonly letGoTimeoutNs?: number;
}

/** What {@link restartBackendDriver} did. */
export interface DriverRestart<T> {
  /** What `start` returned. */
  readonly instance: T;
  /** The backend directories handed to the new instance (state reset to Initialising). */
  readonly devices: readonly string[];
  /** Virtual time of the crash, ns. */
  readonly crashedAtNs: number;
  /** Virtual ns between the crash and the start of the new instance. */
  readonly downNs: number;
  /** Whether every frontend let go within the timeout (false: started anyway). */
  readonly frontendsLetGo: boolean;
}

const S = XenbusState;

function text(host: Host, path: string): string | undefined {
  const n = host.xenstored.inspect(path);
  return n === undefined ? undefined : Buffer.from(n.value).toString("latin1");
}

/** Backend directories of `types` in domain `domid` whose state is InitWait..Connected (being served). */
function servedDevices(host: Host, domid: number, types: readonly string[]): string[] {
  const out: string[] = [];
  for (const type of types) {
    const root = `/local/domain/${domid}/backend/${type}`;
    for (const front of host.xenstored.inspect(root)?.children ?? []) {
      for (const id of host.xenstored.inspect(`${root}/${front}`)?.children ?? []) {
        const dir = `${root}/${front}/${id}`;
        const st = Number(text(host, `${dir}/state`));
        if (st >= S.XenbusStateInitWait && st <= S.XenbusStateConnected) out.push(dir);
      }
    }
  }
  return out.sort();
}

/** Resolves after `ns` of virtual time. */
function sleep(host: Host, ns: number): Promise<void> {
  return new Promise((r) => host.hv.scheduler.at(host.hv.scheduler.now + ns, r));
}

/**
 * The driver-only form (see the file header): crashes the running instance, resets the state of
 * every backend directory of `types` it was serving (InitWait to Connected) to Initialising, waits
 * (virtual time, polling every 100 µs) for their frontends to leave Initialised and Connected, and
 * starts the fresh instance. Await it under `host.until`.
 * @throws whatever `crash` or `start` throws; RangeError for a bad timeout.
 */
export async function restartBackendDriver<T>(
  host: Host,
  o: DriverRestartOptions<T>,
): Promise<DriverRestart<T>> {
  const timeout = o.letGoTimeoutNs ?? DEFAULT_FRONTEND_LET_GO_NS;
  if (!Number.isInteger(timeout) || timeout < 0)
    throw new RangeError(`letGoTimeoutNs must be a non-negative integer, got ${timeout}`);
  const domid = o.backDomid ?? 0;
  const devices = servedDevices(host, domid, o.types);
  const crashedAtNs = host.hv.scheduler.now;
  o.crash();
  // The toolstack's part: the directories go back to Initialising for the new instance's probe.
  const c = host.openXenstore();
  const fronts: string[] = [];
  try {
    for (const dir of devices) {
      c.write(`${dir}/state`, String(S.XenbusStateInitialising));
      const fe = text(host, `${dir}/frontend`);
      if (fe !== undefined) fronts.push(fe);
    }
  } finally {
    c.conn.close();
  }
  // A new instance probing a frontend still Connected would map the dead connection's ring.
  const holding = (): boolean =>
    fronts.some((fe) => {
      const st = Number(text(host, `${fe}/state`));
      return st === S.XenbusStateInitialised || st === S.XenbusStateConnected;
    });
  const deadline = host.hv.scheduler.now + timeout;
  while (holding() && host.hv.scheduler.now < deadline) await sleep(host, 100_000);
  const frontendsLetGo = !holding();
  const instance = o.start();
  return {
    instance,
    devices,
    crashedAtNs,
    downNs: host.hv.scheduler.now - crashedAtNs,
    frontendsLetGo,
  };
}

/** One device to re-attach after a driver domain restart. */
export interface ReattachDevice {
  /** The frontend's domain. */
  readonly frontDomid: number;
  /** The device as first attached (its `backend` is replaced by the new driver domain's domid). */
  readonly spec: DeviceSpec;
}

/** Options of {@link restartDriverDomain}. */
export interface DriverDomainRestartOptions<T> {
  /** The driver domain to destroy. */
  readonly domid: number;
  /** Builds the new driver domain and starts its backend; resolves once it serves (its bus registered). */
  readonly build: () => Promise<T & { readonly domid: number }>;
  /** The devices the old driver domain served, re-attached against the new one in order. */
  readonly devices: readonly ReattachDevice[];
  /** Options of the destroy (`host.destroyDomain`). */
  readonly destroy?: DestroyOptions;
}

/** What {@link restartDriverDomain} did. */
export interface DriverDomainRestart<T> {
  /** What `build` resolved with. */
  readonly built: T & { readonly domid: number };
  /** The old domain's destroy report. */
  readonly destroyed: DestroyReport;
  /** The re-attached devices' paths, in order. */
  readonly reattached: readonly DevicePaths[];
  /** Virtual time of the destroy, ns. */
  readonly crashedAtNs: number;
  /** Virtual ns between the destroy and the last re-attach. */
  readonly downNs: number;
}

/**
 * The driver-domain form (see the file header): destroys domain `domid`, builds the new one,
 * re-attaches each device against it (`attachDevice`, libxl's device add). Await it under
 * `host.until`.
 * @throws HostError from the destroy or an attach; whatever `build` throws.
 */
export async function restartDriverDomain<T>(
  host: Host,
  o: DriverDomainRestartOptions<T>,
): Promise<DriverDomainRestart<T>> {
  const crashedAtNs = host.hv.scheduler.now;
  const destroyed = await host.destroyDomain(o.domid, o.destroy);
  const built = await o.build();
  const reattached = o.devices.map((d) =>
    attachDevice(host, d.frontDomid, { ...d.spec, backend: built.domid }),
  );
  return { built, destroyed, reattached, crashedAtNs, downNs: host.hv.scheduler.now - crashedAtNs };
}

/** When {@link scheduleBackendCrash} fires: a seeded point in the range. */
export type CrashPoint =
  /** A virtual time in [min, max] ns from now. */
  | { readonly ns: readonly [min: number, max: number] }
  /** The n-th notification (event raised) `domid` receives from now, n in [min, max]. */
  | { readonly notifications: readonly [min: number, max: number]; readonly domid: number };

/** Options of {@link scheduleBackendCrash}. */
export interface BackendCrashOptions<R> {
  /** Seed of the point. */
  readonly seed: number;
  readonly at: CrashPoint;
  /** The restart to run there ({@link restartBackendDriver} or {@link restartDriverDomain}). */
  readonly run: () => Promise<R>;
}

/** A scheduled crash. */
export interface ScheduledCrash<R> {
  /** The drawn point: ns from scheduling, or the notification ordinal. */
  readonly point: number;
  /** Whether it fired. */
  readonly fired: boolean;
  /** Virtual time it fired, ns (undefined until then). */
  readonly firedAtNs: number | undefined;
  /** Settles with `run`'s result once it fired and ran; with undefined if stopped before. */
  readonly done: Promise<R | undefined>;
  /** Cancels it if it has not fired. Idempotent. */
  stop(): void;
}

/**
 * Schedules a backend crash and restart at a seeded point (see {@link CrashPoint}); `run` starts
 * in a scheduler callback of its own (after the notification that triggered it is delivered).
 * @throws RangeError for a bad range.
 */
export function scheduleBackendCrash<R>(host: Host, o: BackendCrashOptions<R>): ScheduledCrash<R> {
  const [lo, hi] = "ns" in o.at ? o.at.ns : o.at.notifications;
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= ("ns" in o.at ? 0 : 1) && hi >= lo))
    throw new RangeError(`scheduleBackendCrash: bad range [${lo}, ${hi}]`);
  const rng = new Rng(subSeed(o.seed, "backend-crash"));
  const point = lo + (rng.nextU32() % (hi - lo + 1));
  const s = host.hv.scheduler;
  let fired = false;
  let stopped = false;
  let firedAtNs: number | undefined;
  let settle!: (r: R | undefined) => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<R | undefined>((res, rej) => ((settle = res), (fail = rej)));
  let timer: { cancel(): void } | undefined;
  let onRaise: ((e: RaiseTrace) => void) | undefined;
  const fire = (): void => {
    if (stopped || fired) return;
    fired = true;
    firedAtNs = s.now;
    if (onRaise) host.hv.trace.off("raise", onRaise);
    o.run().then(settle, fail);
  };
  if ("ns" in o.at) timer = s.at(s.now + point, fire);
  else {
    const domid = o.at.domid;
    let left = point;
    onRaise = (e: RaiseTrace): void => {
      if (e.domid !== domid || fired || stopped) return;
      if (--left === 0) timer = s.defer(fire);
    };
    host.hv.trace.on("raise", onRaise);
  }
  return {
    point,
    get fired() {
      return fired;
    },
    get firedAtNs() {
      return firedAtNs;
    },
    done,
    stop() {
      if (stopped || fired) return;
      stopped = true;
      timer?.cancel();
      if (onRaise) host.hv.trace.off("raise", onRaise);
      settle(undefined);
    },
  };
}
