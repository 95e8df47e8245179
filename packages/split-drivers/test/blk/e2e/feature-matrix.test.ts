// Every feature on and off on each side, in combination, through the real pair. The features both
// ends must agree on — persistent grants, indirect segments, multi-queue, multi-page rings — in
// every one of their 2^8 settings (16 blkback settings x 16 blkfront settings); the ones only
// blkback has — flush-cache, barrier (per host: driver options) and discard (per guest: the
// vbd's `discard-enable`) — spread over them by an XOR of the other bits, so each of their 8
// settings occurs 32 times and with each value of every other feature. (All 2^11 cost ~55 ms
// each, ~110 s.) One host per blkback setting serves 16 guests, one per blkfront setting; each
// disk is checked for what was negotiated and I/O-verified (a write split into segments or an
// indirect request, read back and found in the storage; a flush reaching the storage or not; a
// discard or its refusal), then unplugged, and every domain is leak-checked.
import { describe, expect, it } from "vitest";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { type Host, LocalXenbusTransport, detachDevice } from "@pvkit/toolstack";
import { assertNoGuestLeaks, withHost } from "@pvkit/toolstack/testing";
import {
  type BlkbackOptions,
  Blkfront,
  type BlkfrontDisk,
  type BlkfrontOptions,
  MemoryStorage,
  serveBlkback,
} from "@pvkit/split-drivers";
import { XVDA, pattern, same } from "./pair.js";

const BOTH = ["persistent", "indirect", "multiQueue", "multiPage"] as const;
type Both = Record<(typeof BOTH)[number], boolean>;
type Back = Both & { flush: boolean; barrier: boolean; discard: boolean };
type Front = Both;

/** All 2^n settings of `names`, bit i of the index turning names[i] on. */
function settings<K extends string>(names: readonly K[]): Record<K, boolean>[] {
  return Array.from(
    { length: 1 << names.length },
    (_, n) =>
      Object.fromEntries(names.map((k, i) => [k, ((n >> i) & 1) === 1])) as Record<K, boolean>,
  );
}
const label = (s: Record<string, boolean>): string =>
  Object.entries(s)
    .map(([k, v]) => `${v ? "+" : "-"}${k}`)
    .join(" ");
const bits = (s: Both): number => BOTH.reduce((n, k, i) => n | (s[k] ? 1 << i : 0), 0);
const parity = (n: number): boolean => ((n ^ (n >> 1) ^ (n >> 2) ^ (n >> 3)) & 1) === 1;
/** blkback's flush and barrier for a host, from its 4 bits (each of the 4 settings 4 times). */
const flushOf = (b: Both): { flush: boolean; barrier: boolean } => ({
  flush: parity(bits(b) & 0b0011),
  barrier: parity(bits(b) & 0b0110),
});
/** A guest's discard-enable, from both ends' bits (on for half of each host's guests). */
const discardOf = (b: Both, f: Both): boolean => parity(bits(b) ^ bits(f));

const backOptions = (b: Back): BlkbackOptions => ({
  flush: b.flush,
  barrier: b.barrier,
  discard: b.discard,
  persistent: b.persistent,
  maxIndirectSegments: b.indirect ? 256 : 0,
  maxQueues: b.multiQueue ? 4 : 1,
  maxRingPageOrder: b.multiPage ? 4 : 0,
});
const frontOptions = (f: Front): BlkfrontOptions => ({
  persistent: f.persistent,
  maxIndirectSegments: f.indirect ? 32 : 11,
  maxQueues: f.multiQueue ? 2 : 1,
  maxRingPageOrder: f.multiPage ? 1 : 0,
});

const SECTORS = 2048;

/** What `disk` must have negotiated, then verified I/O through each feature. */
async function check(
  h: Host,
  disk: BlkfrontDisk,
  storage: MemoryStorage,
  b: Back,
  f: Front,
  seed: number,
): Promise<void> {
  const until = <T>(p: Promise<T>, what: string): Promise<T> => h.until(p, what);
  const ft = disk.features;
  expect(ft.flush).toBe(b.flush ? "flush-cache" : b.barrier ? "barrier" : "none");
  expect(ft.fua).toBe(!b.flush && b.barrier);
  expect(ft.discard !== undefined).toBe(b.discard);
  expect(ft.persistent).toBe(b.persistent && f.persistent);
  expect(ft.maxIndirectSegments).toBe(b.indirect && f.indirect ? 32 : 0);
  expect(ft.queues).toBe(b.multiQueue && f.multiQueue ? 2 : 1);
  expect(ft.ringPageOrder).toBe(b.multiPage && f.multiPage ? 1 : 0);
  // 24 segments: three 11-segment requests (8 + 8 + 8 sectors short) or one indirect request; a
  // second write at once so two queues both carry one.
  const a = pattern(24 * 4096, seed);
  const c = pattern(4096, seed + 1);
  const at = (seed * 64) % (SECTORS - 256);
  await until(
    Promise.all([disk.writeSectors(at, a), disk.writeSectors(at + 200, c)]),
    "the writes",
  );
  await until(disk.flush(), "the flush");
  const [ra, rc] = await until(
    Promise.all([disk.readSectors(at, 192), disk.readSectors(at + 200, 8)]),
    "the reads",
  );
  expect(same(ra, a) && same(rc, c)).toBe(true);
  const inStorage = new Uint8Array(24 * 4096);
  await storage.read(at * 512, inStorage);
  expect(same(inStorage, a)).toBe(true);
  expect(storage.stats.flushes).toBe(ft.flush === "none" ? 0 : 1);
  const qs = disk.queues;
  expect(qs.reduce((n, q) => n + q.stats.indirect, 0)).toBe(ft.maxIndirectSegments > 0 ? 2 : 0);
  expect(qs.every((q) => q.stats.requests > 0)).toBe(true);
  expect(qs.reduce((n, q) => n + q.persistentGrants, 0) > 0).toBe(ft.persistent);
  if (b.discard) {
    await until(disk.discard(at, 8), "the discard");
    expect(
      [...(await until(disk.readSectors(at, 8), "the discarded sectors"))].every((x) => x === 0),
    ).toBe(true);
  } else {
    await expect(disk.discard(at, 8)).rejects.toMatchObject({ reason: "not-supported" });
  }
}

describe("blk e2e feature matrix", () => {
  const hosts = settings(BOTH).map((both) => ({ ...both, ...flushOf(both) }));
  it.each(hosts.map((b) => [label(b), b] as const))(
    "connects and verifies I/O for every frontend setting against blkback %s",
    async (_name, back) => {
      await withHost(
        async (h) => {
          const xs = LocalXenbusTransport.open(h);
          const storages = new Map<number, MemoryStorage>();
          const served = serveBlkback(h, {
            xs,
            ...backOptions({ ...back, discard: true }),
            storage: (dev) => {
              const s = new MemoryStorage({ bytes: SECTORS * 512 });
              storages.set(dev.otherendId, s);
              return s;
            },
          });
          const fronts = settings(BOTH);
          const guests = await Promise.all(
            fronts.map(async (f, i) => {
              let started!: (bus: XenbusBus) => void;
              const ready = new Promise<XenbusBus>((r) => (started = r));
              const dom = await h.createDomain({
                name: `fm-${i}`,
                memory: 4,
                vcpus: 2,
                devices: [{ kind: "vbd", vdev: "xvda", discard: discardOf(back, f) }],
                main: (ctx) =>
                  started(
                    new XenbusBus(
                      driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }),
                    ),
                  ),
              });
              const bus = await h.until(ready, "a guest's bus");
              const blk = Blkfront.register(bus, frontOptions(f));
              return { f, dom, bus, disk: await h.until(blk.disk(XVDA), `fm-${i}'s disk`) };
            }),
          );
          for (const [i, g] of guests.entries()) {
            try {
              await check(
                h,
                g.disk,
                storages.get(g.dom.domid)!,
                { ...back, discard: discardOf(back, g.f) },
                g.f,
                i + 1,
              );
            } catch (e) {
              throw new Error(
                `frontend ${label(g.f)}, discard-enable ${discardOf(back, g.f) ? 1 : 0}: ${e instanceof Error ? e.message : String(e)}`,
                { cause: e },
              );
            }
          }
          for (const g of guests) {
            expect(
              (await h.until(detachDevice(h, g.dom.domid, "vbd", XVDA), "unplugging")).outcome,
            ).toBe("closed");
            await h.until(g.bus.close(), "a guest bus closing");
          }
          await h.until(served.close(), "blkback closing");
          xs.close();
          await h.hv.settle();
          assertNoGuestLeaks(h);
          expect([...guests.flatMap((g) => g.bus.errors), ...served.bus.errors]).toEqual([]);
        },
        { xenconsoled: false },
      );
    },
  );
});
