/**
 * The XenbusState walks of both ends, as Linux's drivers do them (`xen-blkfront.c`,
 * `xen-blkback/xenbus.c`; `io/xenbus.h`, `io/blkif.h`):
 *
 * Frontend, on the backend's state (blkfront's `blkback_changed`):
 * - InitWait, or Initialised (a backend parked there, FreeBSD rS334027), while we are
 *   Initialising → `initialise` hook → Initialised. A backend still Initialising after
 *   `initWaitTimeoutNs` (one that never writes InitWait) is treated the same. InitWait while we
 *   are Closed (the backend came back after a close) → `initialise` too; Linux's
 *   `blkback_changed` acts on InitWait only from Initialising, so a closed Linux blkfront waits
 *   for a resume (docs/differences.md).
 * - Connected: if we are Initialising or Closed (the backend skipped InitWait; Linux: neither
 *   Initialised nor Connected) `initialise` first; then, if Initialised, the `connect` hook →
 *   Connected. Already Connected: nothing (a resize is the driver's watch).
 * - Closing, or Closed while we are not: `disconnect` hook, everything released → Closed
 *   (`xenbus_frontend_closed`). Closed while we are Closed: deferred grant ends are retried (the
 *   backend has unmapped, XSA-396); any still deferred are retried every second (deferred-retry.ts).
 * - Initialising or InitWait while we are Connected: the backend was restarted without closing
 *   (its driver crashed and a fresh instance took the directory over, the toolstack resetting its
 *   `state`). The old connection is dead: `disconnect` hook, release → Closed, then Initialising
 *   (as after a resume), so the new instance prepares for us (a backend that saw us Closed
 *   closes and then answers Initialising with InitWait) and the rules above reconnect. Linux
 *   ignores both states here and waits for ever.
 * - Unknown (the backend's directory is gone: its driver domain was destroyed) while we are
 *   connected or connecting: nothing yet. If the toolstack then re-adds the device against a new
 *   backend (libxl's `libxl__device_generic_add` rewriting our directory: `state` Initialising,
 *   a new `backend` and `backend-id`), the bus rebinds the device, as `xenbus_dev_resume` re-reads
 *   the other end's details: `disconnect` hook (the driver sees the new backend's keys), release,
 *   Initialising, and the handshake runs with the new backend.
 *
 * Backend, on the frontend's state (blkback's `frontend_changed`):
 * - Initialising while we are Closed → InitWait (the frontend is reconnecting).
 * - Initialised or Connected (a frontend that wrote Connected with its ring keys) while we are not
 *   Connected: any earlier connection is released, then the `connect` hook → Connected.
 * - Closing → Closing. Closed → `disconnect`, release → Closed, and if `online` is 0 the device
 *   is unregistered (the toolstack is removing it). Unknown (the frontend's directory is gone) →
 *   release and unregister. Anything else is fatal ("saw state %d at frontend").
 */
import { XenbusState, xenbusStateName } from "@pvkit/hypervisor-sim/abi";
import type { CoalescedWatch } from "./coalesced-watch.js";
import { coalescedWatch } from "./coalesced-watch.js";
import { XenbusDeviceError } from "./device-error.js";
import type { BackendDriver, FrontendDriver } from "./driver-types.js";
import { retryDeferredGrants } from "./deferred-retry.js";
import type { TimeoutHandle } from "./timers.js";
import type { XenbusDevice } from "./xenbus-device.js";

const S = XenbusState;

/** Default {@link FrontendDriver.initWaitTimeoutNs}: 100 ms. */
export const DEFAULT_INIT_WAIT_TIMEOUT_NS = 100_000_000;

/** What the walks need of the bus. @internal */
export interface WalkContext {
  closeTimeoutNs(): number;
  stateChanged(e: DeviceEntry): void;
  report(err: unknown, dev: XenbusDevice | undefined): void;
}

/** A device's bookkeeping on the bus. @internal */
export interface DeviceEntry {
  readonly dev: XenbusDevice;
  readonly walk: Walk;
  /** Runs `fn` after everything queued for this device; errors are reported, not thrown. */
  serial(fn: () => Promise<void> | void): Promise<void>;
  /** Resolves true once `pred` holds (checked after each change), false after `timeoutNs`. */
  until(pred: () => boolean, timeoutNs: number): Promise<boolean>;
  otherendWatch: CoalescedWatch | undefined;
  /** Timers and watches that outlive one connection (cancelled on removal). */
  timer: TimeoutHandle | undefined;
  ownWatch: CoalescedWatch | undefined;
  /** Backend with hotplugStatus "wait": a connect waits for `hotplug-status`. */
  hotplugReady: boolean;
  pendingConnect: boolean;
  /** Set once the walk has let go of the device (the bus forgets it). */
  unregistered: boolean;
  /** Frontend: the backend's directory vanished while connected (a rebind may follow). */
  otherendGone: boolean;
}

/** One side's walk. @internal */
export interface Walk {
  create(
    dev: XenbusDevice,
    reg: { ignored: Set<string>; entries: Map<string, DeviceEntry> },
  ): DeviceEntry;
  probe(e: DeviceEntry): Promise<void>;
  otherendChanged(e: DeviceEntry): Promise<void>;
  removed(e: DeviceEntry): Promise<void>;
  shutdown(e: DeviceEntry): Promise<void>;
  reconnect(e: DeviceEntry): Promise<void>;
  /** Frontend: the toolstack re-added the device against `otherend` (see the file header). */
  rebind(e: DeviceEntry, otherend: string, otherendId: number): Promise<void>;
}

function makeEntry(dev: XenbusDevice, walk: Walk, ctx: WalkContext): DeviceEntry {
  let chain: Promise<void> = Promise.resolve();
  const listeners = new Set<() => void>();
  const e: DeviceEntry = {
    dev,
    walk,
    serial(fn) {
      const next = chain.then(fn).then(
        () => notify(),
        (err: unknown) => {
          notify();
          ctx.report(err, dev);
        },
      );
      chain = next;
      return next;
    },
    until(pred, timeoutNs) {
      if (pred()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const check = (): void => {
          if (!pred()) return;
          done(true);
        };
        const done = (v: boolean): void => {
          listeners.delete(check);
          t.cancel();
          resolve(v);
        };
        const t = dev.env.timers.after(timeoutNs, () => done(pred()));
        listeners.add(check);
      });
    },
    otherendWatch: undefined,
    timer: undefined,
    ownWatch: undefined,
    hotplugReady: true,
    pendingConnect: false,
    unregistered: false,
    otherendGone: false,
  };
  const notify = (): void => {
    ctx.stateChanged(e);
    for (const l of [...listeners]) l();
  };
  return e;
}

/**
 * Runs a driver hook; a throw is reported to the bus (its `errors`, `onError`), releases the
 * connection and makes the device fatal (`xenbus_dev_fatal`: `error/<nodename>/error`, Closing).
 */
async function hook(
  e: DeviceEntry,
  ctx: WalkContext,
  name: string,
  fn: (() => Promise<void> | void) | undefined,
): Promise<boolean> {
  if (fn === undefined) return true;
  try {
    await fn();
    return true;
  } catch (err) {
    ctx.report(err, e.dev);
    e.dev.releaseAll();
    retryDeferredGrants(e.dev.env.grants, e.dev.env.timers);
    const msg = err instanceof Error ? err.message : String(err);
    await e.dev.fatal(err, `${name}: ${msg}`);
    return false;
  }
}

/** The `disconnect` hook (errors reported), then everything the device holds released. */
async function disconnect(
  e: DeviceEntry,
  ctx: WalkContext,
  fn: (() => Promise<void> | void) | undefined,
): Promise<void> {
  if (fn !== undefined) {
    try {
      await fn();
    } catch (err) {
      ctx.report(err, e.dev);
    }
  }
  const r = e.dev.releaseAll();
  for (const f of r.failed) ctx.report(f.error, e.dev);
  // Grants the peer still maps were deferred (XSA-396): retried every second from now on.
  retryDeferredGrants(e.dev.env.grants, e.dev.env.timers);
}

function endTimers(e: DeviceEntry): void {
  e.timer?.cancel();
  e.timer = undefined;
  e.ownWatch?.close();
  e.ownWatch = undefined;
}

// ---- frontend -------------------------------------------------------------------------------

/** The frontend walk of `driver`. @internal */
export function frontendWalk(driver: FrontendDriver, ctx: WalkContext): Walk {
  const initWaitNs = driver.initWaitTimeoutNs ?? DEFAULT_INIT_WAIT_TIMEOUT_NS;

  const armInitWait = (e: DeviceEntry): void => {
    e.timer?.cancel();
    e.timer = undefined;
    if (initWaitNs <= 0) return;
    e.timer = e.dev.env.timers.after(initWaitNs, () => {
      e.timer = undefined;
      void e.serial(async () => {
        const d = e.dev;
        if (
          !d.removed &&
          d.state === S.XenbusStateInitialising &&
          (await d.readOtherendState()) === S.XenbusStateInitialising
        )
          await initialise(e);
      });
    });
  };

  const initialise = async (e: DeviceEntry): Promise<void> => {
    e.timer?.cancel();
    e.timer = undefined;
    if (await hook(e, ctx, "initialise", () => driver.initialise(e.dev)))
      await e.dev.switchState(S.XenbusStateInitialised);
  };

  const close = async (e: DeviceEntry): Promise<void> => {
    if (e.dev.state === S.XenbusStateClosed) return;
    await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(e.dev)));
    await e.dev.switchState(S.XenbusStateClosed);
  };

  const walk: Walk = {
    create: (dev) => makeEntry(dev, walk, ctx),
    probe: async (e) => armInitWait(e),
    otherendChanged: async (e) => {
      const d = e.dev;
      if (d.removed) return;
      const be = await d.readOtherendState();
      e.otherendGone =
        be === S.XenbusStateUnknown &&
        d.state !== S.XenbusStateInitialising &&
        d.state !== S.XenbusStateClosed;
      // A backend back at Initialising or InitWait under a Connected frontend was restarted: close
      // the dead connection, then Initialising again (as a resume does), whichever order the new
      // instance then sees us in (Closed: it closes too and waits; Initialising: InitWait).
      if (
        (be === S.XenbusStateInitialising || be === S.XenbusStateInitWait) &&
        d.state === S.XenbusStateConnected
      ) {
        await close(e);
        if (d.removed) return;
        await d.switchState(S.XenbusStateInitialising);
        armInitWait(e);
      }
      switch (be) {
        case S.XenbusStateInitialising:
          if (d.state === S.XenbusStateInitialising && initWaitNs <= 0) await initialise(e);
          break;
        case S.XenbusStateInitWait:
          if (d.state === S.XenbusStateInitialising || d.state === S.XenbusStateClosed)
            await initialise(e);
          break;
        case S.XenbusStateInitialised:
          if (d.state === S.XenbusStateInitialising) await initialise(e);
          break;
        case S.XenbusStateConnected:
          if (d.state === S.XenbusStateInitialising || d.state === S.XenbusStateClosed)
            await initialise(e);
          if (d.state !== S.XenbusStateInitialised) break;
          if (await hook(e, ctx, "connect", () => driver.connect(d)))
            await d.switchState(S.XenbusStateConnected);
          break;
        case S.XenbusStateClosing:
          await close(e);
          break;
        case S.XenbusStateClosed:
          await close(e);
          // The backend has unmapped: grants deferred while it mapped them can end now.
          retryDeferredGrants(d.env.grants, d.env.timers);
          break;
        default:
          break;
      }
    },
    removed: async (e) => {
      endTimers(e);
      if (e.dev.resources.length > 0)
        await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(e.dev)));
      retryDeferredGrants(e.dev.env.grants, e.dev.env.timers);
    },
    // xenbus_frontend_dev_shutdown: Closing, wait for the backend to close, then Closed. A device
    // still Initialising has told the backend nothing, so there is nothing to wait for (Linux
    // skips the wait for a device that is not Connected).
    shutdown: async (e) => {
      const d = e.dev;
      let idle = false;
      await e.serial(async () => {
        endTimers(e);
        idle = d.state === S.XenbusStateInitialising;
        if (d.state === S.XenbusStateInitialised || d.state === S.XenbusStateConnected)
          await d.switchState(S.XenbusStateClosing);
      });
      const closed =
        idle ||
        (await e.until(
          () =>
            d.removed ||
            (d.state === S.XenbusStateClosed &&
              (d.otherendState === S.XenbusStateClosed ||
                d.otherendState === S.XenbusStateUnknown)),
          ctx.closeTimeoutNs(),
        ));
      await e.serial(async () => {
        if (!closed && !d.removed) {
          ctx.report(
            new XenbusDeviceError(
              "timeout",
              "ETIME",
              d.nodename,
              `backend ${d.otherend} did not close within ${ctx.closeTimeoutNs()} ns (local state ${xenbusStateName(d.state)}, remote state ${xenbusStateName(d.otherendState)})`,
            ),
            d,
          );
        }
        if (d.state !== S.XenbusStateClosed || d.resources.length > 0) {
          await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(d)));
          await d.switchState(S.XenbusStateClosed);
        }
        retryDeferredGrants(d.env.grants, d.env.timers);
      });
    },
    reconnect: async (e) => {
      e.dev.releaseAll();
      retryDeferredGrants(e.dev.env.grants, e.dev.env.timers);
      await e.dev.switchState(S.XenbusStateInitialising);
      armInitWait(e);
    },
    rebind: async (e, otherend, otherendId) => {
      const d = e.dev;
      e.otherendGone = false;
      endTimers(e);
      d.rebindOtherend(otherend, otherendId);
      // The old connection ends as a close does (the driver sees Closed), but nothing is written:
      // the toolstack rewrote our directory with state Initialising, which the device adopts.
      d.setCachedState(S.XenbusStateClosed);
      await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(d)));
      d.setCachedState(S.XenbusStateInitialising);
      armInitWait(e);
    },
  };
  return walk;
}

// ---- backend --------------------------------------------------------------------------------

/** The backend walk of `driver`. @internal */
export function backendWalk(driver: BackendDriver, ctx: WalkContext): Walk {
  let registry: { ignored: Set<string>; entries: Map<string, DeviceEntry> } | undefined;

  const connect = async (e: DeviceEntry): Promise<void> => {
    const d = e.dev;
    if (d.state === S.XenbusStateConnected) return;
    // A reconnect without an intervening Closed: drop the old connection first.
    if (d.resources.length > 0)
      await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(d)));
    if (!e.hotplugReady) {
      e.pendingConnect = true;
      return;
    }
    e.pendingConnect = false;
    if (await hook(e, ctx, "connect", () => driver.connect(d)))
      await d.switchState(S.XenbusStateConnected);
  };

  /** The device leaves the bus (device_unregister): nothing more is done for it. */
  const unregister = (e: DeviceEntry): void => {
    e.unregistered = true;
    endTimers(e);
    e.otherendWatch?.close();
    if (registry !== undefined) {
      for (const [k, v] of registry.entries) {
        if (v !== e) continue;
        registry.entries.delete(k);
        registry.ignored.add(k);
      }
    }
    e.dev.markRemoved();
  };

  const walk: Walk = {
    create: (dev, reg) => {
      registry = reg;
      return makeEntry(dev, walk, ctx);
    },
    probe: async (e) => {
      const d = e.dev;
      if (driver.hotplugStatus === "wait") {
        e.hotplugReady = false;
        e.ownWatch = coalescedWatch(
          d.env.xs.watch(`${d.nodename}/hotplug-status`),
          () =>
            e.serial(async () => {
              const v = await d.readOwn("hotplug-status");
              if (v === "connected" && !e.hotplugReady) {
                e.hotplugReady = true;
                if (e.pendingConnect) await connect(e);
              } else if (v === "error") {
                await d.fatal("EIO", "hotplug script failed");
              }
            }),
          (err) => ctx.report(err, d),
          { events: 0, runs: 0, backlog: 0, maxBacklog: 0 },
        );
      }
      if (!(await hook(e, ctx, "probe", driver.probe && (() => driver.probe!(d))))) return;
      if (driver.hotplugStatus === "write") await d.writeKeys({ "hotplug-status": "connected" });
      await d.switchState(S.XenbusStateInitWait);
    },
    otherendChanged: async (e) => {
      const d = e.dev;
      if (d.removed) return;
      const fe = await d.readOtherendState();
      switch (fe) {
        case S.XenbusStateInitialising:
          if (d.state === S.XenbusStateClosed) await d.switchState(S.XenbusStateInitWait);
          break;
        case S.XenbusStateInitialised:
        case S.XenbusStateConnected:
          await connect(e);
          break;
        case S.XenbusStateClosing:
          await d.switchState(S.XenbusStateClosing);
          break;
        case S.XenbusStateClosed:
          e.pendingConnect = false;
          await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(d)));
          await d.switchState(S.XenbusStateClosed);
          if ((await d.readOwn("online")) !== "1") unregister(e);
          break;
        case S.XenbusStateUnknown:
          await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(d)));
          await d.switchState(S.XenbusStateClosed);
          unregister(e);
          break;
        default:
          await d.fatal("EINVAL", `saw state ${fe} at frontend`);
          break;
      }
    },
    removed: async (e) => {
      endTimers(e);
      if (e.dev.resources.length > 0)
        await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(e.dev)));
    },
    // Closing, wait for the frontend to close (which releases us and goes Closed), then Closed.
    shutdown: async (e) => {
      const d = e.dev;
      await e.serial(async () => {
        endTimers(e);
        if (d.state !== S.XenbusStateClosed) await d.switchState(S.XenbusStateClosing);
      });
      const closed = await e.until(
        () => d.removed || d.state === S.XenbusStateClosed,
        ctx.closeTimeoutNs(),
      );
      await e.serial(async () => {
        if (!closed && !d.removed) {
          ctx.report(
            new XenbusDeviceError(
              "timeout",
              "ETIME",
              d.nodename,
              `frontend ${d.otherend} did not close within ${ctx.closeTimeoutNs()} ns (local state ${xenbusStateName(d.state)}, remote state ${xenbusStateName(d.otherendState)})`,
            ),
            d,
          );
        }
        if (d.state !== S.XenbusStateClosed || d.resources.length > 0) {
          await disconnect(e, ctx, driver.disconnect && (() => driver.disconnect!(d)));
          await d.switchState(S.XenbusStateClosed);
        }
      });
    },
    reconnect: async (e) => {
      throw new RangeError(
        `${e.dev.nodename}: only a frontend reconnects (the backend follows it)`,
      );
    },
    rebind: async (e) => {
      throw new RangeError(`${e.dev.nodename}: only a frontend is rebound to a new backend`);
    },
  };
  return walk;
}
