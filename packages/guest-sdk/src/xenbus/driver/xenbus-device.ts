/**
 * One device as a driver sees it (Linux's `struct xenbus_device` and the `xenbus_client.c`
 * helpers): its own directory (`nodename`), the other end's (`otherend`, `otherendId`), the
 * XenbusState of both ends, typed reads of the other end's keys with defaults, a transactional
 * write of its own keys, ring and event-channel set-up with the standard keys, and
 * `xenbus_dev_error` / `xenbus_dev_fatal`.
 *
 * Everything acquired through the device while it is connected — grants, mappings, ports,
 * watches, and whatever a driver registers with `own()` — is released by the framework in reverse
 * order when the device disconnects, is unplugged, or its domain dies.
 *
 * Ring keys (`io/blkif.h`, used by every split device): one page → `ring-ref`; 2^order pages →
 * `ring-page-order` and `ring-ref0` … `ring-ref<2^order - 1>` (no `ring-ref`); the frontend's
 * unbound port → `event-channel`; its ABI → `protocol`.
 */
import type { Page, ReadonlyPage } from "@pvkit/hypervisor-sim";
import {
  GNTST,
  XEN_ERRNO,
  XenbusState,
  type XenErrnoName,
  parseXenbusState,
  xenbusStateName,
} from "@pvkit/hypervisor-sim/abi";
import { GrantStatusError } from "../../errors.js";
import type { ChannelOptions, EventChannel } from "../../events/event-channel.js";
import type { GrantOptions } from "../../grants/grant-table-client.js";
import type { GrantedPage } from "../../grants/granted-page.js";
import type { MappedGrant } from "../../grants/grant-mapper.js";
import { MAX_RING_PAGE_ORDER } from "../../ring/shared-ring.js";
import { XenbusError } from "../xenbus-error.js";
import { type CoalescedWatch, type WatchStats, coalescedWatch } from "./coalesced-watch.js";
import { XenbusDeviceError, errnoOf } from "./device-error.js";
import { type ReleaseReport, ResourceStack } from "./device-resources.js";
import type { DriverEnv } from "./driver-env.js";
import type { XenbusOps } from "./transport.js";
import { driverInspect } from "../../inspect/driver-inspect.js";

/**
 * The framework's transactions on one xenstore connection run one at a time. xenstored refuses a
 * domain's transaction beyond its per-connection quota with ENOSPC (`transaction_start`,
 * quota_max_transaction 10), and Linux never gets near it because every xenbus watch callback
 * runs on the single xenwatch thread; without this, 11 devices closing at once (a burst of
 * hot-unplugs) would fail to write their state.
 */
const txGates = new WeakMap<object, { busy: boolean; waiting: (() => void)[] }>();

async function oneAtATime<T>(xs: object, fn: () => Promise<T>): Promise<T> {
  let g = txGates.get(xs);
  if (g === undefined) txGates.set(xs, (g = { busy: false, waiting: [] }));
  while (g.busy) await new Promise<void>((r) => g.waiting.push(r));
  g.busy = true;
  try {
    return await fn();
  } finally {
    g.busy = false;
    g.waiting.shift()?.();
  }
}

/** Which end of the split device this is. */
export type XenbusSide = "frontend" | "backend";

/** `protocol` when the frontend writes none (`XEN_IO_PROTO_ABI_NATIVE` on x86_64). */
export const XEN_IO_PROTO_ABI_NATIVE = "x86_64-abi";

/** A granted ring (frontend): the pages, their refs, and the keys that publish them. */
export interface GrantedRing {
  readonly pages: readonly Page[];
  readonly refs: readonly number[];
  readonly order: number;
  /** `ring-ref`, or `ring-page-order` + `ring-ref%u`. */
  readonly keys: Readonly<Record<string, string>>;
}

/** A mapped ring (backend). */
export interface MappedRing {
  readonly pages: readonly Page[];
  readonly refs: readonly number[];
  readonly order: number;
}

/** Linux's `MAX_DELAY` of `gnttab_retry_eagain_gop` (drivers/xen/grant-table.c), in ms. */
const EAGAIN_MAX_DELAY_MS = 256;

/** Options of {@link XenbusDevice.mapRing}. */
export interface MapRingOptions {
  /** The largest `ring-page-order` accepted (what the backend advertised). Default 0. */
  readonly maxOrder?: number;
}

/** Key values a driver writes: strings, or numbers written in decimal. */
export type XenbusKeys = Readonly<Record<string, string | number>>;

/** How the bus drives a device. @internal */
export interface DeviceControl {
  readonly stats: WatchStats;
  readonly onWatchError: (dev: XenbusDevice, err: unknown) => void;
  /** Reports an error no caller is given (the bus's `errors` and `onError`). */
  readonly report: (dev: XenbusDevice, err: unknown) => void;
}

/** What the bus knows of a device when it creates it. @internal */
export interface XenbusDeviceInit {
  side: XenbusSide;
  type: string;
  devid: number;
  nodename: string;
  otherend: string;
  otherendId: number;
  env: DriverEnv;
  control: DeviceControl;
}

let makeDevice: (init: XenbusDeviceInit) => XenbusDevice;

/** Creates a device (the bus's `xenbus_probe_node`). @internal */
export function createXenbusDevice(init: XenbusDeviceInit): XenbusDevice {
  return makeDevice(init);
}

/** A device of a registered driver; see the file header. `S` is the driver's own state. */
export class XenbusDevice<S = unknown> {
  readonly side: XenbusSide;
  /** Device type ("vbd", "pvrng"). */
  readonly type: string;
  /** The device id under the type. */
  readonly devid: number;
  /** Own directory, relative to the domain's home: `device/<type>/<id>` or `backend/<type>/<frontid>/<id>`. */
  readonly nodename: string;
  #otherend: string;
  #otherendId: number;
  readonly env: DriverEnv;
  /** The driver's own per-device state; cleared when the device disconnects. */
  data: S | undefined;
  readonly #resources = new ResourceStack();
  readonly #control: DeviceControl;
  #state: number = XenbusState.XenbusStateInitialising;
  #otherendState: number = XenbusState.XenbusStateUnknown;
  #removed = false;

  static {
    makeDevice = (init) => new XenbusDevice(init);
  }

  /** Created by the bus, through {@link createXenbusDevice}. */
  private constructor(init: XenbusDeviceInit) {
    this.side = init.side;
    this.type = init.type;
    this.devid = init.devid;
    this.nodename = init.nodename;
    this.#otherend = init.otherend;
    this.#otherendId = init.otherendId;
    this.env = init.env;
    this.#control = init.control;
    driverInspect.device(this);
  }

  /**
   * The other end's directory (absolute, as the toolstack wrote it in `backend` / `frontend`).
   * A frontend's changes when the toolstack re-adds the device against a new backend domain
   * (a restarted driver domain), as `xenbus_read_otherend_details` re-reads it on resume.
   */
  get otherend(): string {
    return this.#otherend;
  }

  /** The other end's domid (`backend-id` / `frontend-id`); see {@link XenbusDevice.otherend}. */
  get otherendId(): number {
    return this.#otherendId;
  }

  /** This end's state as last switched (`dev->state`). */
  get state(): number {
    return this.#state;
  }

  /** The other end's state as last read. */
  get otherendState(): number {
    return this.#otherendState;
  }

  /** Whether the device was unplugged (its directory went away) or its bus closed. */
  get removed(): boolean {
    return this.#removed;
  }

  /** What the device holds now, oldest first ("grant ref 8 (ring page 0)", "port 5", ...). */
  get resources(): readonly string[] {
    return this.#resources.held;
  }

  toString(): string {
    return `${this.nodename} (${xenbusStateName(this.#state)}, other end ${xenbusStateName(this.#otherendState)})`;
  }

  // ---- keys ----------------------------------------------------------------------------------

  /** A key of this end's directory, or undefined when absent. */
  readOwn(key: string): Promise<string | undefined> {
    return readOpt(this.env.xs, `${this.nodename}/${key}`);
  }

  /** A key of the other end's directory, or undefined when absent. */
  readOther(key: string): Promise<string | undefined> {
    return readOpt(this.env.xs, `${this.otherend}/${key}`);
  }

  /**
   * The other end's key as a decimal integer (`xenbus_scanf("%u")`), `dflt` when absent.
   * @throws XenbusDeviceError bad-key (EINVAL) when present but not an integer; missing-key
   *   (ENOENT) when absent and no default is given.
   */
  async otherInt(key: string, dflt?: number): Promise<number> {
    const v = await this.readOther(key);
    if (v === undefined) {
      if (dflt === undefined)
        throw new XenbusDeviceError(
          "missing-key",
          "ENOENT",
          this.nodename,
          `reading ${this.otherend}/${key}: absent`,
        );
      return dflt;
    }
    if (!/^\s*-?\d+\s*$/.test(v))
      throw new XenbusDeviceError(
        "bad-key",
        "EINVAL",
        this.nodename,
        `${this.otherend}/${key} is ${JSON.stringify(v)}, not an integer`,
      );
    return Number.parseInt(v, 10);
  }

  /**
   * The other end's key as text, `dflt` when absent.
   * @throws XenbusDeviceError missing-key (ENOENT) when absent and no default is given.
   */
  async otherString(key: string, dflt?: string): Promise<string> {
    const v = await this.readOther(key);
    if (v !== undefined) return v;
    if (dflt === undefined)
      throw new XenbusDeviceError(
        "missing-key",
        "ENOENT",
        this.nodename,
        `reading ${this.otherend}/${key}: absent`,
      );
    return dflt;
  }

  /** The other end's boolean feature key (`feature-*`): "1" is true, absent gives `dflt` (false). */
  async otherFlag(key: string, dflt = false): Promise<boolean> {
    return (await this.otherInt(key, dflt ? 1 : 0)) !== 0;
  }

  /**
   * Writes `keys` into this end's directory in one transaction, retried on EAGAIN (what
   * blkfront's `talk_to_blkback` and blkback's `connect` do). A key whose directory was removed
   * meanwhile is not recreated: the write is skipped when this end's `state` node is gone.
   * @returns false when the directory was gone.
   */
  async writeKeys(keys: XenbusKeys, also?: (tx: XenbusOps) => Promise<void>): Promise<boolean> {
    return oneAtATime(this.env.xs, () =>
      this.env.xs.transaction(async (tx) => {
        if (!(await tx.exists(`${this.nodename}/state`))) return false;
        for (const [k, v] of Object.entries(keys))
          await tx.write(`${this.nodename}/${k}`, String(v));
        if (also) await also(tx);
        return true;
      }),
    );
  }

  // ---- state ---------------------------------------------------------------------------------

  /**
   * `xenbus_switch_state`: a no-op when `state` is the current one; otherwise, in a transaction
   * retried on EAGAIN, writes `state` only if the `state` node still exists (a deleted node is
   * never resurrected — the toolstack removed the device). The cached state is updated either way,
   * as Linux does. A failed write (xenstored refusing it: EACCES, ENOSPC, ...) is reported to the
   * bus (`errors`, `onError`: what `xenbus_va_dev_error`'s dev_err puts in the kernel log) and is
   * fatal (`xenbus_switch_fatal`: "writing new state", then Closing); switching to Closing
   * itself, as fatal does, throws instead (Linux's depth-1 call, which does not recurse).
   */
  async switchState(state: number): Promise<void> {
    if (state === this.#state) return;
    const path = `${this.nodename}/state`;
    try {
      await oneAtATime(this.env.xs, () =>
        this.env.xs.transaction(async (tx) => {
          if (!(await tx.exists(path))) return;
          await tx.write(path, String(state));
        }),
      );
      const from = this.#state;
      this.#state = state;
      driverInspect.deviceState(this, from, state);
    } catch (err) {
      if (this.#removed) return;
      if (state === XenbusState.XenbusStateClosing) throw err;
      this.#control.report(this, err);
      await this.fatal(err, `writing new state ${xenbusStateName(state)}`);
    }
  }

  /**
   * `xenbus_dev_error`: writes `"<errno> <message>"` (the positive errno) to
   * `error/<nodename>/error` in this domain's home. `err` is an errno name ("EINVAL"), a
   * negative or positive errno, or an error (its XenError errno, EIO otherwise).
   */
  async error(err: XenErrnoName | number | unknown, message: string): Promise<void> {
    const errno =
      typeof err === "number"
        ? Math.abs(err)
        : typeof err === "string" && err in XEN_ERRNO
          ? XEN_ERRNO[err as XenErrnoName]
          : errnoOf(err);
    this.lastError = `${errno} ${message}`;
    try {
      await this.env.xs.write(`error/${this.nodename}/error`, this.lastError);
    } catch {
      // Linux logs "failed to write error node" and carries on.
    }
  }

  /** The text last written by `error` / `fatal`. */
  lastError: string | undefined;

  /** `xenbus_dev_fatal`: `error(...)`, then switch to Closing. */
  async fatal(err: XenErrnoName | number | unknown, message: string): Promise<void> {
    await this.error(err, message);
    await this.switchState(XenbusState.XenbusStateClosing).catch(() => undefined);
  }

  // ---- resources -----------------------------------------------------------------------------

  /**
   * Registers something the driver acquired itself, released (newest first) with the device's
   * other resources. Returns a function that releases it early.
   */
  own(what: string, release: () => void): () => void {
    return this.#resources.push(what, release);
  }

  /**
   * Grants a page to the other end (a data buffer), owned by the device: ended when the device
   * disconnects if the driver has not ended it. End it with the returned page's `end()`.
   * @throws GrantError ERR_NO_PAGES / ERR_NO_GRANT_REFS.
   */
  grantPage(opts: GrantOptions = {}): GrantedPage {
    const g = this.env.grants.grantPage(this.otherendId, opts);
    this.own(`grant ref ${g.ref}${opts.readonly ? " (read-only)" : ""}`, () => void g.end());
    return g;
  }

  /**
   * Frontend: allocates 2^order zeroed pages, grants them to the other end (writable), and
   * returns them with their publishing keys. The caller initialises the ring (`FrontRing.init`)
   * before the keys are written.
   * @throws RangeError for an order outside 0..4.
   */
  grantRing(order = 0): GrantedRing {
    if (!Number.isInteger(order) || order < 0 || order > MAX_RING_PAGE_ORDER)
      throw new RangeError(`ring page order ${order} is not 0..${MAX_RING_PAGE_ORDER}`);
    const granted: GrantedPage[] = [];
    for (let i = 0; i < 1 << order; i++) {
      const g = this.env.grants.grantPage(this.otherendId);
      granted.push(g);
      this.own(`grant ref ${g.ref} (ring page ${i})`, () => void g.end());
    }
    const refs = granted.map((g) => g.ref);
    const keys: Record<string, string> = {};
    if (order === 0) keys["ring-ref"] = String(refs[0]);
    else {
      keys["ring-page-order"] = String(order);
      refs.forEach((r, i) => void (keys[`ring-ref${i}`] = String(r)));
    }
    return { pages: granted.map((g) => g.page), refs, order, keys };
  }

  /**
   * Frontend: `xenbus_alloc_evtchn`, an unbound port for the other end, owned by the device.
   * Publish it as `event-channel` (`{ "event-channel": ch.port }`).
   */
  allocEvtchn(opts: ChannelOptions = {}): EventChannel {
    const ch = this.env.events.bindUnbound(this.otherendId, opts);
    this.own(`port ${ch.port} (unbound for d${this.otherendId})`, () => ch.close());
    return ch;
  }

  /**
   * Backend: reads `ring-page-order` (default 0; above `maxOrder` is refused, as blkback's
   * "requested ring page order %d exceed max") and `ring-ref` or `ring-ref0..`, and maps the
   * pages writable, owned by the device. A map that Xen answers GNTST_eagain (the granter's
   * page is paged out or being shared) is retried as Linux's `xenbus_map_ring_valloc` does
   * (`gnttab_batch_map` → `gnttab_retry_eagain_gop`): after 1, 2, 3, … ms of virtual time, 255
   * tries in all (32.64 s), then it fails with GNTST_bad_page as Linux gives up. Linux
   * retries only the failed element of the batch; here the whole batch is retried (a failed
   * batch is rolled back), see docs/differences.md.
   * @throws XenbusDeviceError bad-key / missing-key, not-connected (removed while retrying);
   * GrantStatusError if a map fails.
   */
  async mapRing(opts: MapRingOptions = {}): Promise<MappedRing> {
    const maxOrder = opts.maxOrder ?? 0;
    const order = await this.otherInt("ring-page-order", 0);
    if (order < 0 || order > maxOrder)
      throw new XenbusDeviceError(
        "bad-key",
        "EINVAL",
        this.nodename,
        `requested ring page order ${order} exceed max ${maxOrder}`,
      );
    const refs: number[] = [];
    if (order === 0) refs.push(await this.#ref("ring-ref"));
    else for (let i = 0; i < 1 << order; i++) refs.push(await this.#ref(`ring-ref${i}`));
    const maps = await this.#mapRetryingEagain(refs);
    return { pages: maps.map((m) => m.page), refs, order };
  }

  async #mapRetryingEagain(refs: readonly number[]): Promise<MappedGrant<Page>[]> {
    // Linux's loop exactly: map; on GNTST_eagain msleep(delay++); again while delay < MAX_DELAY.
    for (let delayMs = 1; ; ) {
      try {
        return this.mapGrants(refs);
      } catch (err) {
        if (!(err instanceof GrantStatusError) || err.status !== GNTST.GNTST_eagain) throw err;
        await new Promise<void>((resolve) => this.env.timers.after(delayMs * 1_000_000, resolve));
        delayMs++;
        if (this.#removed)
          throw new XenbusDeviceError(
            "not-connected",
            "ENXIO",
            this.nodename,
            "removed while retrying a ring map that was GNTST_eagain",
          );
        if (delayMs >= EAGAIN_MAX_DELAY_MS)
          throw new GrantStatusError(
            err.op,
            err.index,
            GNTST.GNTST_bad_page,
            err.batch,
            `still GNTST_eagain after ${delayMs - 1} tries`,
          );
      }
    }
  }

  async #ref(key: string): Promise<number> {
    const v = await this.otherInt(key);
    if (v < 0 || v > 0xffffffff)
      throw new XenbusDeviceError(
        "bad-key",
        "ERANGE",
        this.nodename,
        `${this.otherend}/${key} = ${v} is not a grant ref`,
      );
    return v;
  }

  /** Backend: maps the other end's grants writable (one batch), owned by the device. */
  mapGrants(refs: readonly number[]): MappedGrant<Page>[] {
    const maps = this.env.mapper.map(refs, this.otherendId);
    maps.forEach((m, i) => {
      this.own(`mapping of d${this.otherendId} grant ref ${refs[i]}`, () => m.unmap());
    });
    return maps;
  }

  /** Backend: maps one grant read-only, owned by the device. */
  mapGrantReadonly(ref: number): MappedGrant<ReadonlyPage> {
    const m = this.env.mapper.mapOne(ref, this.otherendId, { readonly: true });
    this.own(`read-only mapping of d${this.otherendId} grant ref ${ref}`, () => m.unmap());
    return m;
  }

  /**
   * Backend: `xenbus_bind_evtchn` — reads `event-channel` and binds to it interdomain, owned by
   * the device.
   * @throws XenbusDeviceError missing-key / bad-key; XenError from the bind (EINVAL: not unbound for us).
   */
  async bindEvtchn(opts: ChannelOptions = {}): Promise<EventChannel> {
    const remote = await this.otherInt("event-channel");
    const ch = this.env.events.bindInterdomain(this.otherendId, remote, opts);
    this.own(`port ${ch.port} (bound to d${this.otherendId}:${remote})`, () => ch.close());
    return ch;
  }

  /**
   * A coalesced watch on `path` (absolute, or relative to the domain's home), owned by the
   * device: `handler` runs after changes, at most one run pending (XSA-349), never re-entered.
   */
  watch(path: string, handler: () => Promise<void> | void): CoalescedWatch {
    const w = coalescedWatch(
      this.env.xs.watch(path),
      handler,
      (err) => this.#control.onWatchError(this, err),
      this.#control.stats,
    );
    this.own(`watch ${path}`, () => w.close());
    return w;
  }

  // ---- framework internals -------------------------------------------------------------------

  /**
   * @internal Re-reads the other end's state. As Linux's `xenbus_read_driver_state`, a node that
   * cannot be read (ENOENT, or EACCES once the toolstack removed the other end's directory and
   * its parents) is Unknown.
   */
  async readOtherendState(): Promise<number> {
    let v: string | undefined;
    try {
      v = await this.env.xs.read(`${this.otherend}/state`);
    } catch (e) {
      if (!(e instanceof XenbusError && e.reason === "error-reply")) throw e;
    }
    this.#otherendState = parseXenbusState(v);
    return this.#otherendState;
  }

  /** @internal Releases everything the device holds, newest first; clears `data`. */
  releaseAll(): ReleaseReport {
    const r = this.#resources.releaseAll();
    this.data = undefined;
    driverInspect.deviceReleased(this);
    return r;
  }

  /** @internal The device went away. */
  markRemoved(): void {
    this.#removed = true;
  }

  /** @internal The toolstack re-added the device against another backend (see `otherend`). */
  rebindOtherend(otherend: string, otherendId: number): void {
    this.#otherend = otherend;
    this.#otherendId = otherendId;
    this.#otherendState = XenbusState.XenbusStateUnknown;
  }

  /** @internal Sets the cached state (when the bus adopts a state it found). */
  setCachedState(state: number): void {
    this.#state = state;
  }
}

async function readOpt(xs: XenbusOps, path: string): Promise<string | undefined> {
  try {
    return await xs.read(path);
  } catch (e) {
    if (e instanceof XenbusError && e.code === "ENOENT") return undefined;
    throw e;
  }
}

/** @internal */
export { readOpt };
