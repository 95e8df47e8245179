// The blk pair with its backend crashing at a seeded point (scheduleBackendCrash of
// @pvkit/toolstack/testing), reused by the crash tests and `pnpm fuzz --crash`: blkback serves
// from dom0 (form "driver": it dies and a fresh blkback takes over) or from a driver domain (form
// "domain": the domain is destroyed, a new one built, xvda re-attached); a burst of writes and
// reads over slow storage runs across the crash. Every request must settle exactly once and
// succeed, every write be in the storage, every read return what was written (blkif_recover).
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { type DomainHandle, type Host, LocalXenbusTransport, detachDevice } from "@pvkit/toolstack";
import {
  type TestHost,
  restartBackendDriver,
  restartDriverDomain,
  scheduleBackendCrash,
  assertNoGuestLeaks,
} from "@pvkit/toolstack/testing";
import { FaultyStorage, MemoryStorage, type Storage, blkbackDriver } from "@pvkit/split-drivers";
import { XVDA, connectedPair, pattern, same, serve } from "./pair.js";

export type CrashForm = "driver" | "domain";

export interface CrashScenario {
  readonly form: CrashForm;
  /** Requests in the burst (each a 4 KiB write to its own block, then a read of it). Default 24. */
  readonly requests?: number;
  /** The crash comes at the n-th notification the guest receives, n drawn from this range. Default [1, 40]. */
  readonly notifications?: readonly [number, number];
  /** Storage delay range per operation, virtual ns. Default [0, 200 µs]. */
  readonly delayNs?: readonly [number, number];
}

export interface CrashRun {
  /** The drawn notification ordinal. */
  readonly point: number;
  /** Whether the crash fired before the burst ended. */
  readonly fired: boolean;
  /** Requests blkfront re-issued after the crash (`stats.reissued`). */
  readonly reissued: number;
  /** Connections of the disk (2 once it recovered). */
  readonly connections: number;
  /** Virtual time at the end, ns. */
  readonly endNs: number;
}

/** A driver domain serving blkback over `storage` (resolves once its bus is registered). */
export async function driverDomain(
  h: Host,
  name: string,
  storage: Storage,
): Promise<{ dom: DomainHandle; bus: XenbusBus; domid: number }> {
  let started!: (b: XenbusBus) => void;
  const ready = new Promise<XenbusBus>((r) => (started = r));
  const dom = await h.createDomain({
    name,
    memory: 16,
    main: (ctx) => {
      const bus = new XenbusBus(
        driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }),
      );
      bus.registerBackend(
        blkbackDriver({ storage: () => storage, holdClock: (why) => h.hv.scheduler.hold(why) }),
      );
      started(bus);
    },
  });
  return { dom, bus: await h.until(ready, `${name}'s bus`), domid: dom.domid };
}

/** Runs the scenario on `t`'s host (the caller finishes it). Throws when the frontend did not recover. */
export async function runCrash(t: TestHost, o: CrashScenario): Promise<CrashRun> {
  const h = t.host;
  const mem = new MemoryStorage({ bytes: 1 << 20 });
  const [min, max] = o.delayNs ?? [0, 200_000];
  const storage = new FaultyStorage(mem, {
    seed: t.seed,
    delayNs: { min, max },
    scheduler: h.hv.scheduler,
  });
  let dd = o.form === "domain" ? await driverDomain(h, "blk-dd", storage) : undefined;
  const p = await connectedPair(h, {
    storage,
    vcpus: 2,
    ...(dd ? { vbd: { backend: dd.domid } } : {}),
  });
  const crash = scheduleBackendCrash(h, {
    seed: t.seed,
    at: { notifications: o.notifications ?? [1, 40], domid: p.dom.domid },
    run: async () => {
      if (o.form === "driver") {
        const r = await restartBackendDriver(h, {
          types: ["vbd"],
          crash: () => {
            p.served.bus.crash();
            p.xs.close();
          },
          start: () => serve(h, { storage }),
        });
        Object.assign(p, r.instance);
      } else {
        const r = await restartDriverDomain(h, {
          domid: dd!.domid,
          build: () => driverDomain(h, "blk-dd2", storage),
          devices: [{ frontDomid: p.dom.domid, spec: { kind: "vbd", vdev: "xvda" } }],
        });
        dd = r.built;
      }
    },
  });
  const n = o.requests ?? 24;
  const settled = new Map<string, number>();
  const once = (k: string): void => void settled.set(k, (settled.get(k) ?? 0) + 1);
  await p.until(
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        p.disk.writeSectors(i * 8, pattern(4096, 10 + i)).then(() => once(`w${i}`)),
      ),
    ),
    "the writes",
  );
  const reads = await p.until(
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        p.disk.readSectors(i * 8, 8).then((b) => (once(`r${i}`), b)),
      ),
    ),
    "the reads",
  );
  crash.stop();
  await p.until(crash.done, "the backend restart");
  reads.forEach((b, i) => {
    if (!same(b, pattern(4096, 10 + i)))
      throw new Error(`read ${i} returned wrong data after the crash`);
  });
  for (const [k, c] of settled) if (c !== 1) throw new Error(`request ${k} completed ${c} times`);
  if (settled.size !== 2 * n) throw new Error(`${settled.size} of ${2 * n} requests settled`);
  const all = new Uint8Array(4096);
  for (let i = 0; i < n; i++) {
    await mem.read(i * 8 * 512, all);
    if (!same(all, pattern(4096, 10 + i)))
      throw new Error(`acknowledged write ${i} is not in the storage`);
  }
  if (p.disk.state !== "connected") throw new Error(`the disk is ${p.disk.state} after the crash`);
  const run: CrashRun = {
    point: crash.point,
    fired: crash.fired,
    reissued: p.disk.stats.reissued,
    connections: p.disk.stats.connections,
    endNs: h.hv.scheduler.now,
  };
  // Teardown: unplug through whichever backend serves now, close every bus, check the guests.
  const removal = await p.until(detachDevice(h, p.dom.domid, "vbd", XVDA), "unplugging xvda");
  if (removal.outcome !== "closed") throw new Error(`the unplug ended ${removal.outcome}`);
  await p.until(p.bus.close(), "the guest bus closing");
  if (dd) await p.until(dd.bus.close(), "the driver domain's bus closing");
  await p.until(p.served.close(), "blkback closing");
  p.xs.close();
  await h.hv.settle();
  assertNoGuestLeaks(h);
  if (dd) await p.until(h.destroyDomain(dd.domid), "destroying the driver domain");
  void LocalXenbusTransport;
  return run;
}
