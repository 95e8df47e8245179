/**
 * blkback as a `BackendDriver` for device type "vbd" on the xenbus driver framework, for dom0 or
 * a driver domain (Linux xen-blkback/xenbus.c):
 *
 * - probe (`xen_blkbk_probe`): `feature-max-indirect-segments` (256), `multi-queue-max-queues`,
 *   `max-ring-page-order`; the framework then switches to InitWait.
 * - connect (`frontend_changed` → `connect_ring` → `connect`): reads the frontend's keys
 *   (connect-ring.ts), maps each ring, binds each event channel late-EOI, and writes in one
 *   transaction `feature-flush-cache`, the discard keys (`feature-discard`, and when offered
 *   `discard-granularity`, `discard-alignment`, `discard-secure`), `feature-barrier`,
 *   `feature-persistent`, `sectors` (512-byte units), `info` (VDISK_*), `sector-size`,
 *   `physical-sector-size`; the framework then switches to Connected.
 * - disconnect: stops every ring and waits for the requests in flight to be answered, then
 *   the framework unmaps and unbinds.
 *
 * The storage of a device comes from `options.storage(dev)`, or from its `type` / `params` /
 * `mode` keys (storage-spec.ts). It is opened at the first connect and kept across reconnects.
 */
import type { BackendDriver, XenbusDevice } from "@pvkit/guest-sdk";
import { BackRing } from "@pvkit/guest-sdk";
import { SCHEDOP, VDISK } from "@pvkit/hypervisor-sim/abi";
import { blkifWire } from "../blkif-protocol.js";
import { blkifRingSpec } from "../blkif-ring.js";
import { openStorage } from "../storage/storage-spec.js";
import type { ClockHolder, Storage } from "../storage/storage.js";
import { BlkbackQueue } from "./blkback-queue.js";
import { BlkbackConnectError, type ConnectPlan, readConnectPlan } from "./connect-ring.js";
import { MAX_PERSISTENT_GRANTS, PersistentGrants } from "./persistent-grants.js";
import { Vbd } from "./vbd.js";

/** Linux `MAX_INDIRECT_SEGMENTS`: what blkback offers in `feature-max-indirect-segments`. */
export const BLKBACK_MAX_INDIRECT_SEGMENTS = 256;
/** Linux `xen_blkif_max_ring_order` default (`XENBUS_MAX_RING_GRANT_ORDER`). */
export const BLKBACK_MAX_RING_PAGE_ORDER = 4;
/** Default `multi-queue-max-queues` (Linux: the number of online CPUs). */
export const BLKBACK_MAX_QUEUES = 4;

/** Options of {@link blkbackDriver}; every one has a default. */
export interface BlkbackOptions {
  /** The storage of a device. Default: from its `type`/`params`/`mode` keys (`openStorage`). */
  readonly storage?: (dev: XenbusDevice<BlkbackDevice>) => Storage | Promise<Storage>;
  /** Clock hold for real I/O of storages opened from keys (`host.hv.scheduler.hold`). */
  readonly holdClock?: ClockHolder;
  /** `max-ring-page-order`. Default 4. */
  readonly maxRingPageOrder?: number;
  /** `multi-queue-max-queues`. Default 4. */
  readonly maxQueues?: number;
  /** `feature-max-indirect-segments`. Default 256; 0 writes no key (no indirect). */
  readonly maxIndirectSegments?: number;
  /** `feature-persistent` (used when the frontend says 1 too). Default true. */
  readonly persistent?: boolean;
  /** Linux `max_persistent_grants` per ring. Default 1056. */
  readonly maxPersistentGrants?: number;
  /** `feature-flush-cache`. Default true. */
  readonly flush?: boolean;
  /** `feature-barrier`. Default: as `flush` (Linux writes `flush_support` for both). */
  readonly barrier?: boolean;
  /** Offer discard when the storage can and `discard-enable` is not 0. Default true. */
  readonly discard?: boolean;
  /**
   * After a pass that served requests, yield the vCPU (`SCHEDOP_yield`) and look at the ring
   * once more before re-arming `req_event` (`RING_FINAL_CHECK_FOR_REQUESTS`), as a backend
   * thread still in its loop would: a frontend queueing more meanwhile need not notify.
   * Default true; false ends every pass with the final check.
   */
  readonly poll?: boolean;
}

/** What blkback keeps per connected device (`dev.data`). */
export interface BlkbackDevice {
  readonly vbd: Vbd;
  readonly plan: ConnectPlan;
  readonly queues: readonly BlkbackQueue[];
}

/** The driver, plus what a toolstack does with it. */
export interface BlkbackDriver extends BackendDriver<BlkbackDevice> {
  /**
   * `xen_vbd_resize`: publishes the storage's current size — `sectors`, and `state` rewritten
   * so the frontend's watch fires — in one transaction. No-op if not connected.
   */
  resize(dev: XenbusDevice<BlkbackDevice>): Promise<void>;
  /** Closes every storage opened from keys. */
  closeStorages(): Promise<void>;
}

interface Resolved {
  readonly maxOrder: number;
  readonly maxQueues: number;
  readonly maxIndirect: number;
  readonly persistent: boolean;
  readonly maxPersistent: number;
  readonly flush: boolean;
  readonly barrier: boolean;
  readonly discard: boolean;
  readonly poll: boolean;
}

function resolve(o: BlkbackOptions): Resolved {
  const flush = o.flush ?? true;
  const r: Resolved = {
    maxOrder: o.maxRingPageOrder ?? BLKBACK_MAX_RING_PAGE_ORDER,
    maxQueues: o.maxQueues ?? BLKBACK_MAX_QUEUES,
    maxIndirect: o.maxIndirectSegments ?? BLKBACK_MAX_INDIRECT_SEGMENTS,
    persistent: o.persistent ?? true,
    maxPersistent: o.maxPersistentGrants ?? MAX_PERSISTENT_GRANTS,
    flush,
    barrier: o.barrier ?? flush,
    discard: o.discard ?? true,
    poll: o.poll ?? true,
  };
  if (!Number.isInteger(r.maxOrder) || r.maxOrder < 0 || r.maxOrder > 4)
    throw new RangeError(`maxRingPageOrder ${r.maxOrder} is not 0..4`);
  if (!Number.isInteger(r.maxQueues) || r.maxQueues < 1)
    throw new RangeError(`maxQueues ${r.maxQueues} is not ≥ 1`);
  if (!Number.isInteger(r.maxIndirect) || r.maxIndirect < 0 || r.maxIndirect > 4096)
    throw new RangeError(`maxIndirectSegments ${r.maxIndirect} is not 0..4096`);
  return r;
}

/** blkback for type "vbd"; see the file header. @throws RangeError for bad options. */
export function blkbackDriver(options: BlkbackOptions = {}): BlkbackDriver {
  const o = resolve(options);
  const storages = new Map<string, { storage: Storage; owned: boolean }>();

  const storageOf = async (dev: XenbusDevice<BlkbackDevice>): Promise<Storage> => {
    const had = storages.get(dev.nodename);
    if (had !== undefined) return had.storage;
    let s: Storage;
    const owned = options.storage === undefined;
    if (options.storage !== undefined) s = await options.storage(dev);
    else {
      const [type, params, mode] = [
        await dev.readOwn("type"),
        await dev.readOwn("params"),
        await dev.readOwn("mode"),
      ];
      s = await openStorage(
        { type, params, mode },
        options.holdClock !== undefined ? { holdClock: options.holdClock } : {},
      );
    }
    storages.set(dev.nodename, { storage: s, owned });
    return s;
  };

  const release = async (nodename: string): Promise<void> => {
    const s = storages.get(nodename);
    storages.delete(nodename);
    if (s?.owned) await s.storage.close();
  };

  return {
    type: "vbd",
    hotplugStatus: "write",
    async probe(dev) {
      const keys: Record<string, number> = {};
      if (o.maxIndirect > 0) keys["feature-max-indirect-segments"] = o.maxIndirect;
      keys["multi-queue-max-queues"] = o.maxQueues;
      keys["max-ring-page-order"] = o.maxOrder;
      // A backend directory handed over from an earlier blkback (a restart) may still hold its
      // offer: without indirect segments, none may stay advertised.
      await dev.writeKeys(keys, async (tx) => {
        if (o.maxIndirect === 0)
          await tx.rm(`${dev.nodename}/feature-max-indirect-segments`).catch(() => undefined);
      });
    },

    async connect(dev) {
      const plan = await readConnectPlan(dev, {
        maxQueues: o.maxQueues,
        maxOrder: o.maxOrder,
        persistent: o.persistent,
      });
      const storage = await storageOf(dev);
      const mode = await dev.readOwn("mode");
      const cdrom = (await dev.readOther("device-type")) === "cdrom";
      const removable = (await dev.readOwn("removable")) === "1";
      const discardEnable = (await dev.readOwn("discard-enable")) !== "0";
      const discard = o.discard && discardEnable && storage.discardable;
      const vbd = new Vbd({
        storage,
        readOnly: mode !== undefined && !mode.includes("w"),
        features: {
          flush: o.flush,
          barrier: o.barrier,
          discard,
          secureDiscard: discard && storage.secureDiscard,
        },
        type: (cdrom ? VDISK.VDISK_CDROM : 0) | (removable ? VDISK.VDISK_REMOVABLE : 0),
        handle: dev.devid,
      });
      const spec = blkifRingSpec(plan.protocol);
      const queues: BlkbackQueue[] = [];
      for (const [q, r] of plan.rings.entries()) {
        let pages;
        try {
          pages = dev.mapGrants(r.refs).map((m) => m.page);
        } catch (e) {
          throw new BlkbackConnectError(
            "EINVAL",
            `mapping ring-ref port ${r.eventChannel}: ${e instanceof Error ? e.message : String(e)}`,
          );
        }
        const ring = BackRing.attach(pages, spec, 0, {
          name: `vbd ${dev.otherendId}/${dev.devid} ring ${q}`,
        });
        const persistent = plan.persistent
          ? new PersistentGrants(dev.env.mapper, dev.otherendId, o.maxPersistent)
          : undefined;
        if (persistent !== undefined)
          dev.own(`persistent grants of ring ${q}`, () => void persistent.clear());
        const queue = new BlkbackQueue({
          index: q,
          name: `vbd ${dev.otherendId}/${dev.devid} ring ${q}`,
          ring,
          wire: blkifWire(plan.protocol),
          vbd,
          mapper: dev.env.mapper,
          domid: dev.otherendId,
          timers: dev.env.timers,
          maxIndirectSegments: Math.max(o.maxIndirect, 1),
          persistent,
          onHalt: (err) =>
            void dev.error(
              "EACCES",
              `Frontend provided bogus ring requests (ring ${q}): ${err.message}. Halting ring processing on dev=${dev.devid}`,
            ),
          onFeatureLost: (key) => {
            if (key === "feature-flush-cache") vbd.features.flush = false;
            else vbd.features.barrier = false;
            void dev.writeKeys({ [key]: 0 }).catch(() => undefined);
          },
          onError: (err) =>
            void dev.error(err, `ring ${q}: ${err instanceof Error ? err.message : String(err)}`),
          yieldCpu: o.poll
            ? () => dev.env.guest.hypercall.sched_op(SCHEDOP.SCHEDOP_yield)
            : undefined,
        });
        let channel;
        try {
          channel = dev.env.events.bindInterdomain(dev.otherendId, r.eventChannel, {
            lateEoi: true,
            onEvent: () => queue.onEvent(),
          });
        } catch (e) {
          throw new BlkbackConnectError(
            "EINVAL",
            `mapping ring-ref port ${r.eventChannel}: ${e instanceof Error ? e.message : String(e)}`,
          );
        }
        dev.own(
          `port ${channel.port} (bound to d${dev.otherendId}:${r.eventChannel}, ring ${q})`,
          () => channel.close(),
        );
        queues.push(queue);
        queue.attach(channel);
      }
      dev.data = { vbd, plan, queues };
      await dev.writeKeys(connectKeys(vbd, o, dev));
    },

    async disconnect(dev) {
      const d = dev.data;
      if (d !== undefined) await Promise.all(d.queues.map((q) => q.stop()));
      if ((await dev.readOwn("online").catch(() => undefined)) !== "1") await release(dev.nodename);
    },

    async resize(dev) {
      const d = dev.data;
      if (d === undefined || dev.removed) return;
      await dev.writeKeys({ sectors: d.vbd.sectors512 }, async (tx) => {
        await tx.write(`${dev.nodename}/state`, String(dev.state));
      });
    },

    async closeStorages() {
      for (const k of [...storages.keys()]) await release(k);
    },
  };
}

/** The keys `connect()` writes (see the file header). */
function connectKeys(vbd: Vbd, o: Resolved, _dev: XenbusDevice): Record<string, number> {
  const f = vbd.features;
  const s = vbd.storage;
  const keys: Record<string, number> = { "feature-flush-cache": f.flush ? 1 : 0 };
  if (f.discard) {
    keys["discard-granularity"] = s.physicalSectorSize;
    keys["discard-alignment"] = 0;
    keys["discard-secure"] = f.secureDiscard ? 1 : 0;
  }
  keys["feature-discard"] = f.discard ? 1 : 0;
  keys["feature-barrier"] = f.barrier ? 1 : 0;
  keys["feature-persistent"] = o.persistent ? 1 : 0;
  keys["sectors"] = vbd.sectors512;
  keys["info"] = vbd.type | (vbd.readOnly ? VDISK.VDISK_READONLY : 0);
  keys["sector-size"] = s.sectorSize;
  keys["physical-sector-size"] = s.physicalSectorSize;
  return keys;
}
