// A blkback restart with I/O in flight through the real pair (blkif_recover): the old blkback
// closes with requests held inside it, a new one takes over the same storage (the same limits,
// or fewer: one queue, a one-page ring, no indirect segments), and the requests are re-issued.
// Nothing acknowledged is lost, nothing completes twice.
import { describe, expect, it } from "vitest";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import { useHost } from "@pvkit/toolstack/testing";
import { type BlkbackOptions, MemoryStorage } from "@pvkit/split-drivers";
import { GatedStorage } from "./gated-storage.js";
import {
  XVDA,
  connectedPair,
  pattern,
  same,
  serve,
  teardownPair,
  writeNode,
  readNode,
} from "./pair.js";

const S = XenbusState;

describe("blk e2e: backend restart", () => {
  const host = useHost();

  it("re-issues the requests in flight when blkback restarts: nothing acknowledged lost, nothing completed twice", async () => {
    const mem = new MemoryStorage({ bytes: 1 << 20 });
    const storage = new GatedStorage(mem);
    const p = await connectedPair(host(), { storage, vcpus: 1 });
    const acked = pattern(8192, 1);
    await p.until(p.disk.writeSectors(0, acked), "the acknowledged write");
    storage.shut();
    const settled: string[] = [];
    const writes = Array.from({ length: 40 }, (_, i) =>
      p.disk
        .writeSectors(16 + i * 8, pattern(4096, 100 + i))
        .then(() => void settled.push(`w${i}`)),
    );
    const reads = Array.from({ length: 4 }, (_, i) =>
      p.disk.readSectors(i * 4, 4).then((b) => (settled.push(`r${i}`), b)),
    );
    await p.h.hv.settle();
    expect(storage.held).toBe(32); // one page: 32 requests consumed by blkback, 12 queued in blkfront
    expect(p.disk.inFlight).toBe(32);
    // The restart: the old blkback closes (it answers what it holds once the gate opens, too late:
    // the frontend took the requests back at Closing), a new one takes over the same storage.
    const old = p.served;
    const oldXs = p.xs;
    const closing = old.close();
    await p.until(
      p.blk.registration.waitFor(XVDA, S.XenbusStateClosed),
      "blkfront closing for the restart",
    );
    expect(p.disk.state).toBe("recovering");
    expect(settled).toEqual([]);
    storage.open();
    await p.until(closing, "the old blkback closing");
    oldXs.close();
    const recovered = new Promise<number>((r) => p.disk.once("recovered", r));
    // xenbus_probe_node only probes a device in Initialising: the toolstack hands the Closed
    // backend directory to the new blkback by resetting its state, as when re-adding it.
    writeNode(
      p.h,
      `/local/domain/0/backend/vbd/${p.dom.domid}/${XVDA}/state`,
      String(S.XenbusStateInitialising),
    );
    Object.assign(p, serve(p.h, { storage }));
    expect(await p.until(recovered, "the disk recovering")).toBe(32);
    const got = await p.until(
      Promise.all([Promise.all(writes), Promise.all(reads)]),
      "the I/O after the restart",
    );
    expect(settled.length).toBe(44);
    expect(new Set(settled).size).toBe(44);
    got[1].forEach(
      (b, i) => void expect(same(b, acked.subarray(i * 2048, (i + 1) * 2048))).toBe(true),
    );
    expect(p.disk.stats.connections).toBe(2);
    expect(p.disk.inFlight).toBe(0);
    expect(p.bus.errors).toEqual([]);
    const all = new Uint8Array(16 * 512 + 40 * 4096);
    await mem.read(0, all);
    expect(same(all.subarray(0, 8192), acked)).toBe(true);
    for (let i = 0; i < 40; i++)
      expect(
        same(all.subarray((16 + i * 8) * 512, (24 + i * 8) * 512), pattern(4096, 100 + i)),
      ).toBe(true);
    await teardownPair(p);
  });
});

/**
 * 48 writes of 128 KiB held inside blkback, a restart into a blkback with `newBack`'s limits
 * (the toolstack resetting the Closed backend directory to Initialising), the writes re-issued.
 */
async function restartInto(
  p: Awaited<ReturnType<typeof connectedPair>>,
  storage: GatedStorage,
  mem: MemoryStorage,
  newBack: BlkbackOptions,
  inFlight: number,
): Promise<void> {
  storage.shut();
  const data = (i: number): Uint8Array => pattern(128 << 10, 500 + i);
  let done = 0;
  const writes = Array.from({ length: 48 }, (_, i) =>
    p.disk.writeSectors(i * 256, data(i)).then(() => void done++),
  );
  await p.h.hv.settle();
  expect(storage.held).toBe(inFlight);
  const closing = p.served.close();
  await p.until(
    p.blk.registration.waitFor(XVDA, S.XenbusStateClosed),
    "blkfront closing for the restart",
  );
  storage.open();
  await p.until(closing, "the old blkback closing");
  p.xs.close();
  writeNode(
    p.h,
    `/local/domain/0/backend/vbd/${p.dom.domid}/${XVDA}/state`,
    String(S.XenbusStateInitialising),
  );
  const recovered = new Promise<number>((r) => p.disk.once("recovered", r));
  Object.assign(p, serve(p.h, { storage, back: newBack }));
  const reissued = await p.until(recovered, "the disk recovering");
  expect(reissued).toBe(inFlight);
  expect(reissued).toBe(p.disk.stats.reissued);
  await p.until(Promise.all(writes), "the writes after the restart");
  expect(done).toBe(48);
  const all = new Uint8Array(48 * (128 << 10));
  await mem.read(0, all);
  for (let i = 0; i < 48; i++)
    expect(same(all.subarray(i * (128 << 10), (i + 1) * (128 << 10)), data(i))).toBe(true);
}

const features = (p: Awaited<ReturnType<typeof connectedPair>>): number[] => [
  p.disk.features.queues,
  p.disk.features.ringPageOrder,
  p.disk.features.maxSegments,
];

describe("blk e2e: backend restart into an older blkback", () => {
  const host = useHost();

  it("drops indirect requests when the restarted blkback offers none (its stale feature-max-indirect-segments removed)", async () => {
    const mem = new MemoryStorage({ bytes: 8 << 20 });
    const storage = new GatedStorage(mem);
    const p = await connectedPair(host(), { storage, vcpus: 1 });
    expect(features(p)).toEqual([1, 0, 32]);
    // One 32-slot ring: 32 of the 48 writes are in flight, held by the storage.
    await restartInto(p, storage, mem, { maxIndirectSegments: 0 }, 32);
    expect(features(p)).toEqual([1, 0, 11]);
    expect(
      readNode(
        p.h,
        `/local/domain/0/backend/vbd/${p.dom.domid}/${XVDA}/feature-max-indirect-segments`,
      ),
    ).toBeUndefined();
    // 32 segments = 11 + 11 + 10: three requests per write on the new ring, none indirect.
    expect([p.disk.queues[0]!.stats.requests, p.disk.queues[0]!.stats.indirect]).toEqual([144, 0]);
    await teardownPair(p);
  });

  it("reconnects with one queue and a one-page ring after 4 queues of 4 pages (stale ring-page-order, queue-N/ removed)", async () => {
    const mem = new MemoryStorage({ bytes: 8 << 20 });
    const storage = new GatedStorage(mem);
    const p = await connectedPair(host(), { storage, front: { maxRingPageOrder: 2 } });
    expect(features(p)).toEqual([4, 2, 32]);
    // Four 128-slot rings: all 48 writes are in flight.
    await restartInto(p, storage, mem, { maxQueues: 1, maxRingPageOrder: 0 }, 48);
    expect(features(p)).toEqual([1, 0, 32]);
    const fe = `/local/domain/${p.dom.domid}/device/vbd/${XVDA}`;
    expect([
      readNode(p.h, `${fe}/ring-page-order`),
      readNode(p.h, `${fe}/multi-queue-num-queues`),
      readNode(p.h, `${fe}/queue-0/ring-ref0`),
      readNode(p.h, `${fe}/ring-ref0`),
    ]).toEqual([undefined, undefined, undefined, undefined]);
    expect(readNode(p.h, `${fe}/ring-ref`)).toMatch(/^\d+$/);
    await teardownPair(p);
  });

  it("re-splits 32-segment requests in flight on 4 queues into 11-segment ones for a one-queue, one-page blkback without indirect", async () => {
    const mem = new MemoryStorage({ bytes: 8 << 20 });
    const storage = new GatedStorage(mem);
    const p = await connectedPair(host(), { storage, front: { maxRingPageOrder: 2 } });
    expect(storage.held).toBe(0);
    await restartInto(
      p,
      storage,
      mem,
      {
        maxIndirectSegments: 0,
        maxQueues: 1,
        maxRingPageOrder: 0,
      },
      48,
    );
    expect(features(p)).toEqual([1, 0, 11]);
    expect([p.disk.queues[0]!.stats.requests, p.disk.queues[0]!.stats.indirect]).toEqual([144, 0]);
    await teardownPair(p);
  });
});

describe("blk e2e: backend restart into a blkback that cannot connect", () => {
  const host = useHost();

  it("stops reconnecting and fails the pending I/O when every connect of the restarted blkback is fatal", async () => {
    const mem = new MemoryStorage({ bytes: 1 << 20 });
    const storage = new GatedStorage(mem);
    const p = await connectedPair(host(), { storage, vcpus: 1 });
    storage.shut();
    const pending = Array.from({ length: 4 }, (_, i) =>
      p.disk.writeSectors(i * 8, pattern(4096, i)).catch((e: unknown) => e),
    );
    await p.h.hv.settle();
    const closing = p.served.close();
    await p.until(
      p.blk.registration.waitFor(XVDA, S.XenbusStateClosed),
      "blkfront closing for the restart",
    );
    storage.open();
    await p.until(closing, "the old blkback closing");
    p.xs.close();
    writeNode(
      p.h,
      `/local/domain/0/backend/vbd/${p.dom.domid}/${XVDA}/state`,
      String(S.XenbusStateInitialising),
    );
    Object.assign(
      p,
      serve(p.h, { back: { storage: () => Promise.reject(new Error("the image is gone")) } }),
    );
    const errors = await p.until(Promise.all(pending), "the pending writes failing");
    expect(errors.map((e) => (e instanceof Error && "reason" in e ? e.reason : e))).toEqual(
      Array(4).fill("disconnected"),
    );
    expect(p.disk.state).toBe("removed");
    await teardownPair(p, { allowErrors: true });
  });
});
