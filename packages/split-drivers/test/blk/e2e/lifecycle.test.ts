// The disk's life through the real pair: a hot-unplug during I/O, a read-only disk (memory and a
// real image file), I/O past the end, 4096-byte sectors.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { detachDevice } from "@pvkit/toolstack";
import { useHost } from "@pvkit/toolstack/testing";
import { BlkfrontError, MemoryStorage } from "@pvkit/split-drivers";
import { GatedStorage } from "./gated-storage.js";
import { XVDA, connectedPair, pattern, same, teardownPair } from "./pair.js";

describe("blk e2e: disk life", () => {
  const host = useHost();

  it("fails the I/O pending at a hot-unplug with a typed error, ends closed and leaks nothing", async () => {
    const mem = new MemoryStorage({ bytes: 1 << 20 });
    const storage = new GatedStorage(mem);
    const p = await connectedPair(host(), { storage, vcpus: 1 });
    await p.until(p.disk.writeSectors(0, pattern(4096, 1)), "a write before");
    storage.shut();
    const outcomes: (string | undefined)[] = [];
    const io = Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? p.disk.readSectors(i * 8, 8) : p.disk.writeSectors(i * 8, pattern(4096, i))).then(
        () => void outcomes.push(undefined),
        (e: unknown) => void outcomes.push(e instanceof BlkfrontError ? e.reason : String(e)),
      ),
    );
    await p.h.hv.settle();
    expect(storage.held).toBe(32);
    const removal = detachDevice(p.h, p.dom.domid, "vbd", XVDA);
    await p.until(Promise.all(io), "the pending I/O failing");
    expect(outcomes).toEqual(Array(40).fill("disconnected"));
    expect(p.disk.state).toBe("removed");
    storage.open(); // blkback answers what it held into a ring nobody reads, then unmaps and closes
    expect((await p.until(removal, "the unplug")).outcome).toBe("closed");
    await expect(p.disk.readSectors(0, 8)).rejects.toMatchObject({ reason: "disconnected" });
    await teardownPair(p, { unplugged: true });
  });

  it("serves a read-only disk: reads work, writes and discards are refused before the ring, the image file is untouched", async () => {
    const dir = await mkdtemp(join(tmpdir(), "pvkit-blk-ro-"));
    try {
      const path = join(dir, "ro.img");
      const image = pattern(1 << 20, 9);
      await writeFile(path, image);
      const p = await connectedPair(host(), { vbd: { type: "file", params: path, mode: "r" } });
      expect(p.disk.readOnly).toBe(true);
      expect(p.disk.features.discard).toBeUndefined();
      expect(
        same(
          await p.until(p.disk.readSectors(100, 300), "a read"),
          image.subarray(100 * 512, 400 * 512),
        ),
      ).toBe(true);
      const before = p.disk.queues[0]!.stats.requests;
      await expect(p.disk.writeSectors(0, new Uint8Array(512))).rejects.toMatchObject({
        reason: "read-only",
      });
      await expect(p.disk.write(new Uint8Array(3), 0, 3, 7)).rejects.toMatchObject({
        reason: "read-only",
      });
      await expect(p.disk.discard(0, 8)).rejects.toMatchObject({ reason: "read-only" });
      expect(p.disk.queues[0]!.stats.requests).toBe(before);
      await teardownPair(p);
      expect(same(new Uint8Array(await readFile(path)), image)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses sector I/O past the end before the ring, reads short at the end and refuses byte writes past it", async () => {
    const storage = new MemoryStorage({ bytes: 64 * 512 });
    const p = await connectedPair(host(), { storage });
    expect([p.disk.size, p.disk.sectorCount]).toEqual([64 * 512, 64]);
    const last = pattern(1024, 3);
    await p.until(p.disk.writeSectors(62, last), "the last two sectors");
    const requests = (): number => p.disk.queues.reduce((n, q) => n + q.stats.requests, 0);
    const before = requests();
    await expect(p.disk.readSectors(63, 2)).rejects.toMatchObject({ reason: "out-of-range" });
    await expect(p.disk.writeSectors(64, new Uint8Array(512))).rejects.toMatchObject({
      reason: "out-of-range",
    });
    await expect(p.disk.discard(60, 8)).rejects.toMatchObject({ reason: "out-of-range" });
    await expect(p.disk.write(new Uint8Array(10), 0, 10, 64 * 512 - 5)).rejects.toMatchObject({
      reason: "out-of-range",
    });
    expect(requests()).toBe(before);
    const buf = new Uint8Array(100);
    const r = await p.until(p.disk.read(buf, 0, 100, 64 * 512 - 40), "a read across the end");
    expect(r.bytesRead).toBe(40);
    expect(same(buf.subarray(0, 40), last.subarray(1024 - 40))).toBe(true);
    expect((await p.until(p.disk.read(buf, 0, 100, 64 * 512), "a read at the end")).bytesRead).toBe(
      0,
    );
    await teardownPair(p);
  });

  it("does verified random byte I/O on 4096-byte sectors (sector-size 4096, sectors in 512-byte units)", async () => {
    const p = await connectedPair(host(), { vbd: { params: "memory:1048576:4096" } });
    expect([p.disk.sectorSize, p.disk.physicalSectorSize, p.disk.sectorCount, p.disk.size]).toEqual(
      [4096, 4096, 256, 1 << 20],
    );
    const model = new Uint8Array(1 << 20);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: (1 << 20) - 1 }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.nat(),
        async (pos, n, seed) => {
          const len = Math.min(n, (1 << 20) - pos);
          const data = pattern(len, seed);
          await p.until(p.disk.write(data, 0, len, pos), "an unaligned write");
          model.set(data, pos);
          const back = new Uint8Array(len + 8192);
          const from = Math.max(0, pos - 4096);
          const got = await p.until(p.disk.read(back, 0, back.length, from), "a read around it");
          expect(
            same(back.subarray(0, got.bytesRead), model.subarray(from, from + got.bytesRead)),
          ).toBe(true);
        },
      ),
      { numRuns: 12, seed: 4096, endOnFailure: true },
    );
    await expect(p.disk.writeSectors(0, new Uint8Array(512))).rejects.toMatchObject({
      reason: "invalid-argument",
    });
    await teardownPair(p);
  });
});
