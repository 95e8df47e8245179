/**
 * blkfront on the xenbus driver framework: a FrontendDriver for `vbd` and the disks it makes.
 *
 * ```ts
 * const bus = new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }));
 * const blk = Blkfront.register(bus, { maxRingPageOrder: 2 });
 * const disk = await blk.disk(51712);            // xvda, once Connected
 * await disk.writeSectors(0, data);
 * ```
 *
 * Hooks, as Linux's xen-blkfront.c:
 * - `initialise` (`talk_to_blkback`): ring order and queues from the backend's offer, 2^order
 *   granted ring pages and an unbound port per queue, then one transaction with `ring-ref` /
 *   `ring-page-order` + `ring-ref%u` (under `queue-N/` with `multi-queue-num-queues` when
 *   there are several queues), `event-channel`, `protocol` = x86_64-abi and
 *   `feature-persistent`.
 * - `connect` (`blkfront_connect`): the backend's disk keys and features (negotiate.ts), the
 *   disk attached to the new queues (requests taken back from an earlier connection are
 *   re-issued: `blkif_recover`), and a watch on `sectors` (a rewrite is a resize).
 * - `disconnect`: requests in flight are taken back. If the device is going away (unplugged,
 *   backend `online` = 0, the driver unregistering) they are rejected; otherwise the backend is
 *   restarting: once both ends are Closed the device reconnects (Initialising) and the handshake
 *   runs again. Linux only recovers on resume; a guest program here survives a blkback restart.
 */
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import {
  type DriverRegistration,
  type FrontendDriver,
  FrontRing,
  type XenbusBus,
  type XenbusDevice,
  type XenbusOps,
} from "@pvkit/guest-sdk";
import { blkifRingSpec } from "../blkif-ring.js";
import { BlkQueue, type QueueHost } from "./blk-queue.js";
import { type BlkfrontDisk, newBlkfrontDisk } from "./blkfront-disk.js";
import { BlkfrontError } from "./blkfront-error.js";
import {
  type BlkfrontLimits,
  type BlkfrontTransport,
  chooseTransport,
  readDiskInfo,
} from "./negotiate.js";

/**
 * Reconnects in a row that end with the backend closing before the disk connected, after which
 * blkfront stops recovering the device: it is removed and its pending I/O fails `disconnected`.
 */
export const BLKFRONT_MAX_FAILED_RECONNECTS = 3;

/** Options of {@link Blkfront.register}. */
export interface BlkfrontOptions extends BlkfrontLimits {
  /** Reconnect after a backend restart and re-issue requests in flight. Default true. */
  readonly recover?: boolean;
}

/** What a connected device holds. */
export interface BlkfrontConnection {
  readonly queues: BlkQueue[];
  readonly transport: BlkfrontTransport;
}

interface Waiter {
  resolve: (d: BlkfrontDisk) => void;
  reject: (e: unknown) => void;
}

/** The blkfront driver registered on one bus; see the file header. */
export class Blkfront {
  readonly registration: DriverRegistration<BlkfrontConnection>;
  readonly options: BlkfrontOptions;
  readonly #disks = new Map<number, BlkfrontDisk>();
  readonly #waiters = new Map<number, Waiter[]>();
  readonly #restarting = new Set<number>();
  readonly #failedReconnects = new Map<number, number>();

  private constructor(bus: XenbusBus, options: BlkfrontOptions) {
    this.options = options;
    this.registration = bus.registerFrontend(this.#driver());
  }

  /** Registers blkfront for `device/vbd/*` on `bus`. */
  static register(bus: XenbusBus, options: BlkfrontOptions = {}): Blkfront {
    return new Blkfront(bus, options);
  }

  /**
   * The disk of vbd `devid` once it first reaches Connected (at once if it has). Rejects if the
   * device is removed first. Await it under `host.until` in tests.
   */
  disk(devid: number): Promise<BlkfrontDisk> {
    const d = this.#disks.get(devid);
    if (d !== undefined) return Promise.resolve(d);
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(devid) ?? [];
      list.push({ resolve, reject });
      this.#waiters.set(devid, list);
      this.registration.waitFor(devid, XenbusState.XenbusStateUnknown).catch((e: unknown) => {
        if (!this.#disks.has(devid)) reject(e);
      });
    });
  }

  /** The disks made so far. */
  get disks(): readonly BlkfrontDisk[] {
    return [...this.#disks.values()];
  }

  /** Unregisters the driver (every device Closing → Closed); pending I/O is rejected. */
  unregister(): Promise<void> {
    return this.registration.unregister();
  }

  #driver(): FrontendDriver<BlkfrontConnection> {
    return {
      type: "vbd",
      initialise: (dev) => this.#initialise(dev),
      connect: (dev) => this.#connect(dev),
      disconnect: (dev) => this.#disconnect(dev),
    };
  }

  async #initialise(dev: XenbusDevice<BlkfrontConnection>): Promise<void> {
    const transport = await chooseTransport(dev, this.options);
    const spec = blkifRingSpec("x86_64-abi");
    const queues: BlkQueue[] = [];
    const keys: Record<string, string | number> = {};
    if (transport.order > 0) keys["ring-page-order"] = transport.order;
    if (transport.queues > 1) keys["multi-queue-num-queues"] = transport.queues;
    const host = this.#queueHost(dev.devid);
    for (let i = 0; i < transport.queues; i++) {
      const granted = dev.grantRing(transport.order);
      const ring = FrontRing.init(granted.pages, spec, { name: `${dev.nodename} queue ${i}` });
      const q = new BlkQueue(dev, i, ring, host);
      q.channel = dev.allocEvtchn({ onEvent: () => q.interrupt() });
      dev.own(`blkfront queue ${i} persistent grants`, () => q.release());
      queues.push(q);
      const dir = transport.queues > 1 ? `queue-${i}/` : "";
      for (const [k, v] of Object.entries(granted.keys))
        if (k !== "ring-page-order") keys[`${dir}${k}`] = v;
      keys[`${dir}event-channel`] = q.channel.port;
    }
    keys["protocol"] = "x86_64-abi";
    keys["feature-persistent"] = (this.options.persistent ?? true) ? 1 : 0;
    dev.data = { queues, transport };
    await dev.writeKeys(keys, (tx) => dropStaleTransportKeys(tx, dev.nodename, keys));
  }

  /** The disk's queue host, reached through the disk once it exists. */
  #queueHost(devid: number): QueueHost {
    const disk = (): BlkfrontDisk | undefined => this.#disks.get(devid);
    // The disk is made at connect; responses cannot arrive before requests, which need it.
    return {
      get device() {
        return disk()?.nodename ?? `device/vbd/${devid}`;
      },
      features: () => hostOf(disk()).features(),
      complete: (c, e) => hostOf(disk()).complete(c, e),
      featureOff: (w) => hostOf(disk()).featureOff(w),
      disable: (e) => hostOf(disk()).disable(e),
      kick: () => hostOf(disk()).kick(),
    };
  }

  async #connect(dev: XenbusDevice<BlkfrontConnection>): Promise<void> {
    const conn = dev.data!;
    const info = await readDiskInfo(dev, this.options);
    let disk = this.#disks.get(dev.devid);
    if (disk === undefined) {
      disk = newBlkfrontDisk(dev.nodename, dev.devid, info, conn.transport, dev.env.allocator);
      this.#disks.set(dev.devid, disk);
    }
    disk.attach(conn.queues, info, conn.transport);
    const d = disk;
    dev.watch(`${dev.otherend}/sectors`, async () => {
      // A backend directory that vanished (its driver domain destroyed) reads EACCES: no resize.
      const v = await dev.readOther("sectors").catch(() => undefined);
      const n = v === undefined ? undefined : scanUnsigned64(v);
      if (n !== undefined) d.resize(n);
    });
    for (const w of this.#waiters.get(dev.devid) ?? []) w.resolve(disk);
    this.#waiters.delete(dev.devid);
  }

  async #disconnect(dev: XenbusDevice<BlkfrontConnection>): Promise<void> {
    const disk = this.#disks.get(dev.devid);
    if (disk === undefined) {
      // The backend gave up before the disk ever connected (a fatal connect error: it could not
      // map the ring, say). Whoever awaits disk() is told now rather than left waiting; a later
      // disk() call waits again, for a backend that starts over.
      const state = await dev.readOther("state").catch(() => undefined);
      const err = new BlkfrontError(
        "disconnected",
        dev.nodename,
        `the backend closed the device before it connected (backend state ${state ?? "gone"}; its error node says why)`,
      );
      for (const w of this.#waiters.get(dev.devid) ?? []) w.reject(err);
      this.#waiters.delete(dev.devid);
      return;
    }
    const recover = this.options.recover ?? true;
    // A backend that closes again before the disk reconnected failed the reconnect (a fatal
    // connect error: it goes Closing, then Closed and online). Give up after a few in a row
    // rather than loop Initialising → Initialised → Closed forever.
    const failed =
      disk.state === "recovering" ? (this.#failedReconnects.get(dev.devid) ?? 0) + 1 : 0;
    this.#failedReconnects.set(dev.devid, failed);
    let final =
      !recover ||
      dev.removed ||
      this.registration.closed ||
      failed >= BLKFRONT_MAX_FAILED_RECONNECTS;
    if (!final) {
      const online = await dev.readOther("online").catch(() => undefined);
      final = online !== "1";
    }
    disk.detach(final);
    if (final) {
      this.#disks.delete(dev.devid);
      this.#failedReconnects.delete(dev.devid);
      return;
    }
    void this.#awaitRestart(dev, disk);
  }

  /** Once this end is Closed and the backend Closed (it restarted), reconnect. */
  async #awaitRestart(dev: XenbusDevice<BlkfrontConnection>, disk: BlkfrontDisk): Promise<void> {
    if (this.#restarting.has(dev.devid)) return;
    this.#restarting.add(dev.devid);
    const xs = dev.env.xs;
    let done = false;
    let sub: { unsubscribe(): void } | undefined;
    const finish = (final: boolean): void => {
      if (done) return;
      done = true;
      sub?.unsubscribe();
      this.#restarting.delete(dev.devid);
      if (final) {
        disk.remove();
        this.#disks.delete(dev.devid);
      }
    };
    // Removal (unplug, unregister) ends the wait.
    this.registration.waitFor(dev.devid, XenbusState.XenbusStateUnknown).catch(() => finish(true));
    try {
      await this.registration.waitFor(dev.devid, XenbusState.XenbusStateClosed);
    } catch {
      finish(true);
      return;
    }
    if (done) return;
    sub = xs.watch(`${dev.otherend}/state`).subscribe({
      error: () => finish(true),
      next: () => {
        void (async () => {
          if (done) return;
          if (dev.removed || this.registration.closed) return finish(true);
          const v = await xs.read(`${dev.otherend}/state`).catch(() => undefined);
          if (done) return;
          const st = v === undefined ? XenbusState.XenbusStateUnknown : Number(v);
          // The framework reconnected by itself (the backend came back at InitWait: walks.ts).
          if (
            dev.state === XenbusState.XenbusStateInitialised ||
            dev.state === XenbusState.XenbusStateConnected
          )
            return finish(false);
          if (st === XenbusState.XenbusStateUnknown) return finish(true);
          if (st !== XenbusState.XenbusStateClosed || dev.state !== XenbusState.XenbusStateClosed)
            return;
          finish(false);
          await this.registration.reconnect(dev.devid).catch(() => undefined);
        })();
      },
    });
  }
}

/** Our transport keys: ring refs, ports, ring order, queue count, per-queue directories. */
const TRANSPORT_KEY =
  /^(ring-ref\d*|event-channel|ring-page-order|multi-queue-num-queues|queue-\d+)$/;

/**
 * A reconnect after a backend restart may choose a smaller transport than the connection
 * before: removes the transport keys of `dir` that `keys` does not rewrite, so the new backend
 * never reads a stale `ring-page-order`, `multi-queue-num-queues`, `queue-N/` or `ring-ref0`
 * (which blkback reads before `ring-ref` for a one-page ring: `read_per_ring_refs`).
 */
async function dropStaleTransportKeys(
  tx: XenbusOps,
  dir: string,
  keys: Record<string, unknown>,
): Promise<void> {
  const names = Object.keys(keys);
  for (const k of await tx.directory(dir).catch(() => [] as string[])) {
    if (!TRANSPORT_KEY.test(k)) continue;
    if (!k.startsWith("queue-")) {
      if (!(k in keys)) await tx.rm(`${dir}/${k}`);
    } else if (!names.some((n) => n.startsWith(`${k}/`))) {
      await tx.rm(`${dir}/${k}`);
    } else {
      for (const kk of await tx.directory(`${dir}/${k}`).catch(() => [] as string[]))
        if (!(`${k}/${kk}` in keys)) await tx.rm(`${dir}/${k}/${kk}`);
    }
  }
}

function hostOf(disk: BlkfrontDisk | undefined): QueueHost {
  if (disk === undefined) throw new Error("blkfront: a queue was used before its disk existed");
  return disk.queueHost();
}

function scanUnsigned64(v: string): number | undefined {
  const m = /^\s*(\d+)/.exec(v);
  return m === null ? undefined : Number(m[1]);
}
