// The compatibility matrix, each cell I/O-verified and leak-checked: our blkfront against the
// oldest blkback (the real one with every feature off, and a scripted one that writes none of
// the feature keys at all), against a backend that goes straight to Connected and one parked in
// Initialised (scripted: our blkback does neither); our blkback against a frontend that writes
// Connected with its ring keys (scripted) and against the oldest frontend (the real blkfront
// with every feature off, and a scripted one with only ring-ref and event-channel, no protocol
// node: the x86_32 default).
import { describe, expect, it } from "vitest";
import { BLKIF_OP } from "@pvkit/hypervisor-sim/abi";
import { useHost } from "@pvkit/toolstack/testing";
import { type BlkifRequest, MemoryStorage } from "@pvkit/split-drivers";
import { connected, teardown } from "../front/helpers.js";
import { S, rig, rw, whole } from "../back/raw-front.js";
import { connectedPair, pattern, same, teardownPair } from "./pair.js";

const segs = (r: BlkifRequest): number =>
  r.kind === "rw" || r.kind === "indirect" ? r.nr_segments : -1;
const OLDEST_BACK = {
  maxRingPageOrder: 0,
  maxQueues: 1,
  maxIndirectSegments: 0,
  persistent: false,
  flush: false,
  barrier: false,
  discard: false,
} as const;
const NEWEST_FRONT = {
  maxRingPageOrder: 4,
  maxQueues: 4,
  maxIndirectSegments: 256,
  persistent: true,
} as const;

describe("blk e2e compatibility: our blkfront", () => {
  const host = useHost();

  it("uses one page, one queue, 11 segments, no persistent grants and no flush with blkback's oldest feature set", async () => {
    const storage = new MemoryStorage({ bytes: 4 << 20 });
    const p = await connectedPair(host(), { storage, back: OLDEST_BACK, front: NEWEST_FRONT });
    expect(p.disk.features).toEqual({
      flush: "none",
      fua: false,
      discard: undefined,
      persistent: false,
      maxIndirectSegments: 0,
      maxSegments: 11,
      ringPageOrder: 0,
      queues: 1,
    });
    const data = pattern(1 << 20, 21);
    await p.until(p.disk.writeSectors(512, data), "1 MiB");
    await p.until(p.disk.flush(), "a flush (resolves at once)");
    expect(same(await p.until(p.disk.readSectors(512, 2048), "reading it back"), data)).toBe(true);
    const q = p.disk.queues[0]!;
    expect([q.stats.requests, q.stats.indirect, q.persistentGrants, storage.stats.flushes]).toEqual(
      [48, 0, 0, 0],
    );
    await expect(p.disk.discard(0, 8)).rejects.toMatchObject({ reason: "not-supported" });
    const inStorage = new Uint8Array(1 << 20);
    await storage.read(512 * 512, inStorage);
    expect(same(inStorage, data)).toBe(true);
    await teardownPair(p);
  });

  it("uses every default against a scripted backend that writes only sectors, info and sector-size", async () => {
    const r = await connected(host(), { front: NEWEST_FRONT });
    expect(r.disk.features).toEqual({
      flush: "none",
      fua: false,
      discard: undefined,
      persistent: false,
      maxIndirectSegments: 0,
      maxSegments: 11,
      ringPageOrder: 0,
      queues: 1,
    });
    const data = pattern(96 << 10, 22);
    await r.until(r.disk.writeSectors(64, data));
    expect(same(await r.until(r.disk.readSectors(64, 192)), data)).toBe(true);
    expect(same(r.be.storage.subarray(64 * 512, 64 * 512 + data.length), data)).toBe(true);
    expect(r.be.requests.map(segs)).toEqual([11, 11, 2, 11, 11, 2]);
    await teardown(r);
  });

  it.each([
    ["goes straight to Connected", "straight-to-connected"],
    ["is parked in Initialised", "parked-initialised"],
  ] as const)("connects and does verified I/O with a backend that %s", async (_name, mode) => {
    const r = await connected(host(), { back: { mode } });
    const data = pattern(8192, 23);
    await r.until(r.disk.writeSectors(8, data));
    expect(same(await r.until(r.disk.readSectors(8, 16)), data)).toBe(true);
    expect(same(r.be.storage.subarray(8 * 512, 8 * 512 + 8192), data)).toBe(true);
    await teardown(r);
  });
});

describe("blk e2e compatibility: our blkback", () => {
  const host = useHost();

  it("connects a scripted frontend that writes Connected with its ring keys, and serves its I/O", async () => {
    const disk = new MemoryStorage({ bytes: 1 << 20 });
    const r = await rig(host(), { storage: () => disk, fo: { state: S.XenbusStateConnected } });
    await r.backendState(S.XenbusStateConnected);
    const data = pattern(4096, 24);
    const g = r.front.page((pg) => pg.write(0, data));
    expect(await r.h.until(r.front.submit(rw(1, 1, 16, [whole(g)])), "the write")).toEqual({
      id: 1,
      operation: BLKIF_OP.BLKIF_OP_WRITE,
      status: 0,
    });
    const back = r.front.page();
    expect(await r.h.until(r.front.submit(rw(0, 2, 16, [whole(back)])), "the read")).toEqual({
      id: 2,
      operation: BLKIF_OP.BLKIF_OP_READ,
      status: 0,
    });
    expect(same(back.page.read(0, 4096), data)).toBe(true);
    const inDisk = new Uint8Array(4096);
    await disk.read(16 * 512, inDisk);
    expect(same(inDisk, data)).toBe(true);
    await r.finish();
  });

  it("serves the oldest scripted frontend: ring-ref and event-channel only, no protocol node (x86_32-abi)", async () => {
    const disk = new MemoryStorage({ bytes: 1 << 20 });
    const r = await rig(host(), { storage: () => disk, fo: { protocol: null } });
    await r.backendState(S.XenbusStateConnected);
    expect(await r.read(`${r.be}/feature-persistent`)).toBe("1"); // offered, unused: the frontend said 0
    const data = pattern(11 * 4096, 25);
    const pages = [...Array(11)].map((_, i) =>
      r.front.page((pg) => pg.write(0, data.subarray(i * 4096, (i + 1) * 4096))),
    );
    expect(
      (
        await r.h.until(
          r.front.submit(
            rw(
              1,
              7,
              0,
              pages.map((x) => whole(x)),
            ),
          ),
          "11 segments",
        )
      ).status,
    ).toBe(0);
    const inDisk = new Uint8Array(11 * 4096);
    await disk.read(0, inDisk);
    expect(same(inDisk, data)).toBe(true);
    await r.finish();
  });

  it("serves the real blkfront with every feature off against every feature on", async () => {
    const storage = new MemoryStorage({ bytes: 4 << 20 });
    const p = await connectedPair(host(), {
      storage,
      front: { maxRingPageOrder: 0, maxQueues: 1, maxIndirectSegments: 11, persistent: false },
    });
    expect(p.disk.features).toEqual({
      flush: "flush-cache",
      fua: false,
      discard: { granularity: 512, alignment: 0, secure: true },
      persistent: false,
      maxIndirectSegments: 0,
      maxSegments: 11,
      ringPageOrder: 0,
      queues: 1,
    });
    const data = pattern(1 << 20, 26);
    await p.until(p.disk.writeSectors(0, data), "1 MiB");
    await p.until(p.disk.flush(), "a flush");
    expect(same(await p.until(p.disk.readSectors(0, 2048), "reading it back"), data)).toBe(true);
    expect([
      p.disk.queues[0]!.stats.indirect,
      p.disk.queues[0]!.persistentGrants,
      storage.stats.flushes,
    ]).toEqual([0, 0, 1]);
    await teardownPair(p);
  });
});
