/**
 * The xenbus driver framework's bus (Linux `xenbus_probe.c`, `xenbus_probe_frontend.c`,
 * `xenbus_probe_backend.c`): drivers register for a device type and side; the bus watches
 * `device/<type>` (frontends) or `backend/<type>` (backends) in its domain's home, probes a
 * device when its directory appears with `state` Initialising, watches the other end's `state`,
 * and walks the XenbusState machine for it (frontend-walk.ts, backend-walk.ts). A device whose
 * directory disappears is removed, releasing everything it holds.
 *
 * ```ts
 * const bus = new XenbusBus(driverEnv({ guest, events, xs }));
 * const rng = bus.registerFrontend(pvrngFront);
 * const dev = await rng.connected(0);          // device/pvrng/0 reached Connected
 * ...
 * await rng.unregister();                      // Closing → Closed, with a timeout
 * ```
 *
 * The bus lists its directory once, at registration (Linux's `xenbus_probe_devices`). After that
 * each event on `device/<type>` or `backend/<type>` is handled for the one device its path names,
 * as `xenbus_dev_changed` does (`frontend_changed` / `backend_changed` in
 * `xenbus_probe_frontend.c` / `xenbus_probe_backend.c`): the path is cut to the device's node
 * (`device/<type>/<id>`, `backend/<type>/<domid>/<id>`); a known device whose node (or `state`)
 * is gone is removed, an unknown one is probed (`xenbus_probe_node`: only a device in
 * Initialising is new, and one found in another state is read again at its next event). An
 * event on `backend/<type>/<domid>` alone names no device: while that directory exists it is
 * ignored, as Linux does; once it is gone every device under it is removed
 * (`xenbus_cleanup_devices`). So the requests for one new device do not grow with the devices
 * the bus already has. An event on the watched node itself (WATCH's initial event, the directory
 * created or removed) lists the directory again, where Linux ignores it.
 *
 * Every watch is bounded (XSA-349): at most one pending run each (coalesced-watch.ts). The bus's
 * own watch keeps the devices named since its last run in a set of at most
 * {@link XenbusBusOptions.maxPendingDevices} keys; an event past that cap drops the set for one
 * full listing of the directory instead (device-watch.ts). All the work for one device is
 * serialised. When the xenstore connection fails (the domain is being destroyed) every device is
 * released without further xenstore traffic.
 */
import { XenbusState, parseXenbusState, xenbusStateName } from "@pvkit/hypervisor-sim/abi";
import {
  type CoalescedWatch,
  type WatchStats,
  coalescedWatch,
  watchStats,
} from "./coalesced-watch.js";
import { XenbusError } from "../xenbus-error.js";
import { XenbusDeviceError } from "./device-error.js";
import { type DeviceBatch, deviceWatch } from "./device-watch.js";
import type { DriverEnv } from "./driver-env.js";
import type { BackendDriver, FrontendDriver } from "./driver-types.js";
import { XenbusDevice, type XenbusSide, createXenbusDevice, readOpt } from "./xenbus-device.js";
import { type DeviceEntry, type Walk, backendWalk, frontendWalk } from "./walks.js";

/** Default wait for the peer during an orderly close (Linux's 5 s in `xenbus_frontend_dev_shutdown`). */
export const XENBUS_CLOSE_TIMEOUT_NS = 5_000_000_000;

/** Default {@link XenbusBusOptions.maxPendingDevices}. */
const DEFAULT_MAX_PENDING_DEVICES = 1024;

/** Options of {@link XenbusBus}. */
export interface XenbusBusOptions {
  /** Virtual ns `unregister()` waits for the other end before forcing Closed. Default 5 s. */
  readonly closeTimeoutNs?: number;
  /** Called with every error the bus could not hand to a caller (also kept in `errors`). */
  readonly onError?: (err: unknown, dev: XenbusDevice | undefined) => void;
  /**
   * Devices a driver's watch keeps named between two of its runs (XSA-349 bound); an event that
   * names one more is handled by one full listing of the directory instead. Default 1024. A
   * positive integer.
   */
  readonly maxPendingDevices?: number;
}

let makeRegistration: <S>(bus: XenbusBus, side: XenbusSide, type: string) => DriverRegistration<S>;

/** One driver's devices on the bus. */
export class DriverRegistration<S = unknown> {
  readonly side: XenbusSide;
  readonly type: string;
  readonly #bus: XenbusBus;
  /** @internal */
  readonly entries = new Map<string, DeviceEntry>();
  /** @internal Directory children seen and skipped (not Initialising when found). */
  readonly ignored = new Set<string>();
  /** @internal */
  watch: CoalescedWatch | undefined;
  #closed = false;

  static {
    makeRegistration = <S>(bus: XenbusBus, side: XenbusSide, type: string) =>
      new DriverRegistration<S>(bus, side, type);
  }

  /** Made by `XenbusBus.registerFrontend/registerBackend` (private: no `new DriverRegistration()` in the .d.ts). */
  private constructor(bus: XenbusBus, side: XenbusSide, type: string) {
    this.#bus = bus;
    this.side = side;
    this.type = type;
  }

  /** The devices probed and not removed. */
  get devices(): XenbusDevice<S>[] {
    return [...this.entries.values()].map((e) => e.dev as XenbusDevice<S>);
  }

  /** A device by id (backends: also the frontend's domid, default: the only one with that id). */
  device(devid: number, frontendId?: number): XenbusDevice<S> | undefined {
    for (const e of this.entries.values()) {
      if (e.dev.devid === devid && (frontendId === undefined || e.dev.otherendId === frontendId))
        return e.dev as XenbusDevice<S>;
    }
    return undefined;
  }

  /**
   * Resolves with the device once its own state is `state` (now or later); rejects with
   * XenbusDeviceError not-connected if it is removed first. Await it under `host.until` in tests.
   */
  waitFor(devid: number, state: number, frontendId?: number): Promise<XenbusDevice<S>> {
    return this.#bus.waitFor(this, devid, state, frontendId) as Promise<XenbusDevice<S>>;
  }

  /** `waitFor(devid, Connected)`. */
  connected(devid: number, frontendId?: number): Promise<XenbusDevice<S>> {
    return this.waitFor(devid, XenbusState.XenbusStateConnected, frontendId);
  }

  /**
   * Frontend: a device that is Closed goes back to Initialising, so the backend (Closed, still
   * online) prepares for a reconnect (InitWait) and the handshake runs again.
   * @throws XenbusDeviceError not-connected for an unknown device; RangeError if it is not Closed.
   */
  reconnect(devid: number): Promise<void> {
    const e = [...this.entries.values()].find((x) => x.dev.devid === devid);
    if (e === undefined)
      return Promise.reject(
        new XenbusDeviceError("not-connected", "ENXIO", `${this.type}/${devid}`, "no such device"),
      );
    return this.#bus.reconnect(e);
  }

  /**
   * Stops the driver: each device goes to Closing, waits (virtual time, `closeTimeoutNs`) for the
   * other end to close, then is released and switched to Closed. Idempotent.
   */
  async unregister(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#bus.unregisterDriver(this);
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** The bus of one domain; see the file header. */
export class XenbusBus {
  readonly env: DriverEnv;
  /** Watch plumbing counters of every watch on this bus (XSA-349 bound: `maxBacklog`). */
  readonly stats: WatchStats = watchStats();
  /** Errors no caller could be given (also passed to `onError`). */
  readonly errors: unknown[] = [];
  /** What the drivers' directory watches did, all drivers together (see the file header). */
  readonly scanStats: {
    /** Full listings of a driver's directory (registration, the directory's own events, cap hit). */
    fullScans: number;
    /** Devices handled one by one (one per device named in a run). */
    deviceEvents: number;
    /** The most devices one watch kept named at once (at most `maxPendingDevices`). */
    maxPending: number;
  } = { fullScans: 0, deviceEvents: 0, maxPending: 0 };
  readonly #closeTimeoutNs: number;
  readonly #onError: XenbusBusOptions["onError"];
  readonly #maxPending: number;
  readonly #registrations = new Set<DriverRegistration>();
  readonly #waiters = new Set<{
    reg: DriverRegistration;
    devid: number;
    frontendId: number | undefined;
    state: number;
    resolve: (d: XenbusDevice) => void;
    reject: (e: unknown) => void;
  }>();
  #failed = false;

  /** @throws RangeError if `opts.maxPendingDevices` is not a positive integer. */
  constructor(env: DriverEnv, opts: XenbusBusOptions = {}) {
    const max = opts.maxPendingDevices ?? DEFAULT_MAX_PENDING_DEVICES;
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`maxPendingDevices must be a positive integer, got ${max}`);
    this.env = env;
    this.#closeTimeoutNs = opts.closeTimeoutNs ?? XENBUS_CLOSE_TIMEOUT_NS;
    this.#onError = opts.onError;
    this.#maxPending = max;
  }

  /** Registers a frontend driver for `device/<type>/*`. */
  registerFrontend<S>(driver: FrontendDriver<S>): DriverRegistration<S> {
    return this.#register(
      "frontend",
      driver.type,
      frontendWalk(driver as FrontendDriver, this.#walkContext()),
    );
  }

  /** Registers a backend driver for `backend/<type>/<frontid>/*`. */
  registerBackend<S>(driver: BackendDriver<S>): DriverRegistration<S> {
    return this.#register(
      "backend",
      driver.type,
      backendWalk(driver as BackendDriver, this.#walkContext()),
    );
  }

  /** Unregisters every driver (see `DriverRegistration.unregister`). */
  async close(): Promise<void> {
    await Promise.all([...this.#registrations].map((r) => r.unregister()));
  }

  #register<S>(side: XenbusSide, type: string, walk: Walk): DriverRegistration<S> {
    if (!/^[A-Za-z0-9_-]+$/.test(type))
      throw new RangeError(`device type ${JSON.stringify(type)} is not a xenstore path element`);
    for (const r of this.#registrations)
      if (r.side === side && r.type === type)
        throw new RangeError(`a ${side} driver for ${type} is already registered`);
    const reg = makeRegistration<S>(this, side, type);
    this.#registrations.add(reg as DriverRegistration);
    const root = side === "frontend" ? `device/${type}` : `backend/${type}`;
    // Frontends: device/<type>/<id>; backends: backend/<type>/<domid>/<id>.
    const levels = side === "frontend" ? 1 : 2;
    reg.watch = deviceWatch(
      this.env.xs.watch(root),
      (path) => deviceKey(root, levels, path),
      this.#maxPending,
      (batch) => this.#changed(reg as DriverRegistration, root, walk, batch),
      (err) => (isConnectionFailure(err) ? this.#fail(err) : this.#report(err, undefined)),
      this.stats,
    );
    return reg;
  }

  /** One run of a driver's directory watch: a full listing, or each device named. */
  async #changed(
    reg: DriverRegistration,
    root: string,
    walk: Walk,
    batch: DeviceBatch,
  ): Promise<void> {
    if (reg.closed || this.#failed) return;
    const st = this.scanStats;
    if (batch.keys.length > st.maxPending) st.maxPending = batch.keys.length;
    if (batch.full) {
      st.fullScans++;
      await this.#scan(reg, root, walk);
      return;
    }
    for (const key of batch.keys) {
      if (reg.closed || this.#failed) return;
      st.deviceEvents++;
      await this.#deviceChanged(reg, root, key, walk);
    }
  }

  /**
   * `xenbus_dev_changed` for the device `key` names (`<id>`, or `<domid>/<id>` for a backend;
   * `<domid>` alone for a backend's domain directory): see the file header.
   */
  async #deviceChanged(
    reg: DriverRegistration,
    root: string,
    key: string,
    walk: Walk,
  ): Promise<void> {
    if (reg.side === "backend" && !key.includes("/")) {
      // backend/<type>/<domid>: no device of its own. Only its removal matters, and only to the
      // devices known under it (none known: nothing to ask).
      const under = `${key}/`;
      const known = (k: string): boolean => k.startsWith(under);
      if (![...reg.entries.keys()].some(known) && ![...reg.ignored].some(known)) return;
      if (await this.env.xs.exists(`${root}/${key}`)) return;
      for (const [k, e] of [...reg.entries]) if (known(k)) this.#remove(reg, k, e, walk);
      for (const k of [...reg.ignored]) if (known(k)) reg.ignored.delete(k);
      return;
    }
    const e = reg.entries.get(key);
    if (e === undefined) {
      await this.#probe(reg, root, key, walk);
      return;
    }
    // A known device stays while its state node is there (xenbus_switch_state never re-creates
    // a deleted one; the device is gone with it).
    const alive = await this.env.xs.exists(`${root}/${key}/state`);
    if (reg.entries.get(key) !== e) return; // removed or unregistered meanwhile
    if (!alive) this.#remove(reg, key, e, walk);
    else if (e.otherendGone) await this.#maybeRebind(e, `${root}/${key}`, walk);
  }

  #walkContext() {
    return {
      closeTimeoutNs: () => this.#closeTimeoutNs,
      stateChanged: (e: DeviceEntry) => this.#stateChanged(e),
      report: (err: unknown, dev: XenbusDevice | undefined) => this.#report(err, dev),
    };
  }

  /**
   * Lists the type's directory (`xenbus_probe_devices`): probes the devices not known (those
   * found in another state than Initialising before are read again), removes vanished ones.
   */
  async #scan(reg: DriverRegistration, root: string, walk: Walk): Promise<void> {
    if (reg.closed || this.#failed) return;
    const found = new Set<string>();
    const top = (await dirOpt(this.env.xs, root)) ?? [];
    if (reg.side === "frontend") {
      for (const id of top) found.add(id);
    } else {
      for (const front of top)
        for (const id of (await dirOpt(this.env.xs, `${root}/${front}`)) ?? [])
          found.add(`${front}/${id}`);
    }
    for (const [key, e] of reg.entries) {
      if (!found.has(key) || !(await this.env.xs.exists(`${root}/${key}/state`)))
        this.#remove(reg, key, e, walk);
      else if (e.otherendGone) await this.#maybeRebind(e, `${root}/${key}`, walk);
    }
    for (const key of reg.ignored) if (!found.has(key)) reg.ignored.delete(key);
    for (const key of found) {
      if (reg.entries.has(key) || reg.closed) continue;
      await this.#probe(reg, root, key, walk);
    }
  }

  /**
   * `xenbus_probe_node` + `xenbus_dev_probe`: only a device in Initialising is new. One in another
   * state is kept in `ignored` until its node goes; one without a state node is not a device (yet).
   */
  async #probe(reg: DriverRegistration, root: string, key: string, walk: Walk): Promise<void> {
    const nodename = `${root}/${key}`;
    const parts = key.split("/");
    const devid = Number(parts[parts.length - 1]);
    const stateText = await readOpt(this.env.xs, `${nodename}/state`);
    if (stateText === undefined) {
      reg.ignored.delete(key);
      return;
    }
    const state = parseXenbusState(stateText);
    if (state !== XenbusState.XenbusStateInitialising || !/^\d+$/.test(parts[parts.length - 1]!)) {
      reg.ignored.add(key);
      return;
    }
    // The driver may have unregistered, or the device been probed by an earlier run, meanwhile.
    if (reg.closed || this.#failed || reg.entries.has(key)) return;
    reg.ignored.delete(key);
    // xenbus_read_otherend_details: the other end's id and path must be there.
    const [idKey, pathKey] =
      reg.side === "frontend" ? ["backend-id", "backend"] : ["frontend-id", "frontend"];
    const idText = await readOpt(this.env.xs, `${nodename}/${idKey}`);
    const otherend = await readOpt(this.env.xs, `${nodename}/${pathKey}`);
    const otherendId = idText !== undefined && /^\d+$/.test(idText) ? Number(idText) : Number.NaN;
    // The driver may have unregistered (or the connection failed) during the reads above.
    if (reg.closed || this.#failed) return;
    const dev = createXenbusDevice({
      side: reg.side,
      type: reg.type,
      devid,
      nodename,
      otherend: otherend ?? "",
      otherendId,
      env: this.env,
      control: {
        stats: this.stats,
        onWatchError: (d, err) => this.#report(err, d),
        report: (d, err) => this.#report(err, d),
      },
    });
    if (
      !Number.isInteger(otherendId) ||
      otherend === undefined ||
      otherend === "" ||
      !(await this.env.xs.exists(otherend))
    ) {
      this.#report(
        new XenbusDeviceError(
          "otherend",
          "ENOENT",
          nodename,
          `reading other end details ${idKey} and ${pathKey}`,
        ),
        dev,
      );
      await dev.fatal("ENOENT", `reading other end details from ${nodename}`);
      reg.ignored.add(key);
      return;
    }
    const entry = walk.create(dev, reg);
    reg.entries.set(key, entry);
    await entry.serial(() => walk.probe(entry));
    if (reg.closed || this.#failed) return;
    this.#watchOtherend(entry, otherend, walk);
  }

  /**
   * watch_otherend: the initial event runs the walk once for the state found. A frontend whose
   * backend has just vanished is checked for a rebind at once: the toolstack may have rewritten
   * its directory before the walk saw the old backend go, and the bus's own watch, which handles
   * only the device an event names, has nothing more to tell it then.
   */
  #watchOtherend(e: DeviceEntry, otherend: string, walk: Walk): void {
    e.otherendWatch = coalescedWatch(
      this.env.xs.watch(`${otherend}/state`),
      () => {
        const ran = e.serial(() => walk.otherendChanged(e));
        if (e.dev.side !== "frontend") return ran; // only a frontend is rebound
        return ran.then(() =>
          e.otherendGone && !e.dev.removed && !this.#failed
            ? this.#maybeRebind(e, e.dev.nodename, walk)
            : undefined,
        );
      },
      (err) => this.#report(err, e.dev),
      this.stats,
    );
  }

  /**
   * A frontend whose backend directory vanished: if the toolstack re-added the device against
   * another backend (`backend` / `backend-id` rewritten, the new directory there), rebind it and
   * watch the new backend's state (walks.ts).
   */
  async #maybeRebind(e: DeviceEntry, nodename: string, walk: Walk): Promise<void> {
    const otherend = await readOpt(this.env.xs, `${nodename}/backend`);
    const idText = await readOpt(this.env.xs, `${nodename}/backend-id`);
    if (
      otherend === undefined ||
      otherend === e.dev.otherend ||
      idText === undefined ||
      !/^\d+$/.test(idText)
    )
      return;
    if (!(await this.env.xs.exists(otherend)) || e.dev.removed || !e.otherendGone) return;
    e.otherendGone = false;
    e.otherendWatch?.close();
    await e.serial(() => walk.rebind(e, otherend, Number(idText)));
    if (e.dev.removed || this.#failed) return;
    this.#watchOtherend(e, otherend, walk);
  }

  #remove(reg: DriverRegistration, key: string, e: DeviceEntry, walk: Walk): void {
    reg.entries.delete(key);
    e.otherendWatch?.close();
    void e.serial(() => walk.removed(e));
    e.dev.markRemoved();
    this.#stateChanged(e);
  }

  /** @internal */
  waitFor(
    reg: DriverRegistration,
    devid: number,
    state: number,
    frontendId: number | undefined,
  ): Promise<XenbusDevice> {
    return new Promise((resolve, reject) => {
      const w = { reg, devid, frontendId, state, resolve, reject };
      this.#waiters.add(w);
      const d = reg.device(devid, frontendId);
      if (d !== undefined && d.state === state) {
        this.#waiters.delete(w);
        resolve(d);
      }
    });
  }

  #stateChanged(e: DeviceEntry): void {
    for (const w of [...this.#waiters]) {
      const d = e.dev;
      if (
        w.reg.type !== d.type ||
        w.reg.side !== d.side ||
        w.devid !== d.devid ||
        (w.frontendId !== undefined && w.frontendId !== d.otherendId)
      )
        continue;
      if (d.removed) {
        this.#waiters.delete(w);
        w.reject(
          new XenbusDeviceError(
            "not-connected",
            "ENXIO",
            d.nodename,
            `removed while waiting for ${xenbusStateName(w.state)} (at ${xenbusStateName(d.state)})`,
          ),
        );
      } else if (d.state === w.state) {
        this.#waiters.delete(w);
        w.resolve(d);
      }
    }
  }

  /** @internal */
  async reconnect(e: DeviceEntry): Promise<void> {
    await e.serial(async () => {
      if (e.dev.state !== XenbusState.XenbusStateClosed)
        throw new RangeError(`${e.dev.nodename} is ${xenbusStateName(e.dev.state)}, not Closed`);
      await e.walk.reconnect(e);
    });
  }

  /** @internal */
  async unregisterDriver(reg: DriverRegistration): Promise<void> {
    reg.watch?.close();
    const entries = [...reg.entries.values()];
    await Promise.all(entries.map((e) => e.walk.shutdown(e)));
    for (const e of entries) e.otherendWatch?.close();
    reg.entries.clear();
    for (const e of entries) {
      e.dev.markRemoved();
      this.#stateChanged(e);
    }
    this.#registrations.delete(reg);
    // UNWATCH is sent without waiting for its reply; xenstored answers in order, so once one more
    // request is answered every UNWATCH before it has been processed.
    if (!this.#failed)
      await this.env.xs
        .exists(reg.side === "frontend" ? "device" : "backend")
        .catch(() => undefined);
  }

  /**
   * The driver instance dies abruptly, as a crashed backend process (or a driver that oopsed)
   * does: no driver hook runs and nothing is written to xenstore — the devices' `state` nodes stay
   * as they were (no Closing, no Closed). Everything the devices hold (grant mappings, granted
   * pages, ports, watches, what drivers registered with `own()`) is released as the kernel
   * reclaims a dead process's gntdev mappings and event channels, and the env's grant mapper is
   * closed (every mapping made through it unmapped, whoever made it). The bus does nothing more; its
   * xenstore connection is the caller's to close (the process's death closes it). Idempotent.
   * The fault injection of @pvkit/toolstack/testing (`restartBackendDriver`) uses it.
   */
  crash(): void {
    if (this.#failed) return;
    this.#fail(undefined);
    // gntdev's release: mappings the driver made outside its devices' own() (a request's data
    // pages, persistent grants in use) go too. The mapper refuses further maps (ClosedError).
    this.env.mapper.close();
  }

  /** Whether the bus stopped: its connection failed or it {@link XenbusBus.crash | crashed}. */
  get failed(): boolean {
    return this.#failed;
  }

  /** The connection failed (the domain is going away): release every device without xenstore. */
  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    if (err !== undefined) this.#report(err, undefined);
    for (const reg of this.#registrations) {
      reg.watch?.close();
      for (const e of reg.entries.values()) {
        e.otherendWatch?.close();
        e.timer?.cancel();
        e.ownWatch?.close();
        e.dev.releaseAll();
        e.dev.markRemoved();
        this.#stateChanged(e);
      }
      reg.entries.clear();
    }
  }

  #report(err: unknown, dev: XenbusDevice | undefined): void {
    this.errors.push(err);
    this.#onError?.(err, dev);
  }
}

/** The connection itself failed (closed, ring broken), as opposed to one request being refused. */
function isConnectionFailure(err: unknown): boolean {
  return (
    err instanceof XenbusError && err.reason !== "error-reply" && err.reason !== "request-too-large"
  );
}

async function dirOpt(xs: DriverEnv["xs"], path: string): Promise<string[] | undefined> {
  try {
    return await xs.directory(path);
  } catch (e) {
    if ((e as { code?: unknown }).code === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * The device an event path under `root` names: its first `levels` elements after `root`
 * (`xenbus_dev_changed`'s `strsep_len(node, '/', bus->levels)`), or fewer for a shallower path
 * (a backend's `<domid>` directory). Undefined for `root` itself or a path outside it: those
 * call for a full listing.
 */
function deviceKey(root: string, levels: number, path: string): string | undefined {
  if (path.length <= root.length + 1 || !path.startsWith(root) || path[root.length] !== "/")
    return undefined;
  let end = root.length + 1;
  for (let i = 0; i < levels; i++) {
    const slash = path.indexOf("/", end);
    if (slash < 0) return path.slice(root.length + 1);
    if (i === levels - 1) return path.slice(root.length + 1, slash);
    end = slash + 1;
  }
  return undefined;
}
