// blkback through the test host against a hand-written frontend: negotiation keys, reads and
// writes with the data verified in the storage and in the granted pages, flush, discard,
// indirect requests, multi-page rings, two queues, the x86_32 protocol, 4096-byte sectors.
import { describe, expect, it } from "vitest";
import { withHost } from "@pvkit/toolstack/testing";
import { MemoryStorage } from "@pvkit/split-drivers";
import { S, rig, rw, whole } from "./raw-front.js";

const MiB = 1 << 20;
const pattern = (seed: number, n: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 9)) & 0xff);

describe("blkback I/O", () => {
  it("advertises Linux's probe and connect keys and reaches Connected", async () => {
    await withHost(async (h) => {
      const disk = new MemoryStorage({ bytes: MiB });
      const r = await rig(h, { storage: () => disk });
      await r.backendState(S.XenbusStateConnected);
      const keys = [
        "feature-max-indirect-segments",
        "multi-queue-max-queues",
        "max-ring-page-order",
        "feature-flush-cache",
        "feature-barrier",
        "feature-discard",
        "discard-granularity",
        "discard-alignment",
        "discard-secure",
        "feature-persistent",
        "sectors",
        "info",
        "sector-size",
        "physical-sector-size",
        "hotplug-status",
      ];
      const got = Object.fromEntries(
        await Promise.all(keys.map(async (k) => [k, await r.read(`${r.be}/${k}`)] as const)),
      );
      expect(got).toEqual({
        "feature-max-indirect-segments": "256",
        "multi-queue-max-queues": "4",
        "max-ring-page-order": "4",
        "feature-flush-cache": "1",
        "feature-barrier": "1",
        "feature-discard": "1",
        "discard-granularity": "512",
        "discard-alignment": "0",
        "discard-secure": "1",
        "feature-persistent": "1",
        sectors: "2048",
        info: "0",
        "sector-size": "512",
        "physical-sector-size": "512",
        "hotplug-status": "connected",
      });
      await r.finish();
    });
  });

  it("writes then reads back 11 segments with the bytes verified in storage and in the pages", async () => {
    await withHost(async (h) => {
      const disk = new MemoryStorage({ bytes: MiB });
      const r = await rig(h, { storage: () => disk });
      await r.backendState(S.XenbusStateConnected);
      const data = pattern(1, 11 * 4096);
      const src = [...Array(11)].map((_, i) =>
        r.front.page((p) => p.write(0, data.subarray(i * 4096, (i + 1) * 4096))),
      );
      const w = await h.until(
        r.front.submit(
          rw(
            1,
            7,
            64,
            src.map((g) => whole(g)),
          ),
        ),
        "the write",
      );
      expect(w).toEqual({ id: 7, operation: 1, status: 0 });
      const inDisk = new Uint8Array(11 * 4096);
      await disk.read(64 * 512, inDisk);
      expect(Buffer.from(inDisk).equals(Buffer.from(data))).toBe(true);
      // Read back, partial segments: sectors 2..5 of one page land at byte 1024 of the page.
      const dst = r.front.page();
      const rd = await h.until(r.front.submit(rw(0, 8, 64 + 8, [whole(dst, 2, 5)])), "the read");
      expect(rd).toEqual({ id: 8, operation: 0, status: 0 });
      expect(
        Buffer.from(dst.page.read(1024, 2048)).equals(
          Buffer.from(data.subarray(4096, 4096 + 2048)),
        ),
      ).toBe(true);
      expect([...dst.page.read(0, 1024)].every((b) => b === 0)).toBe(true);
      await r.finish();
    });
  });

  it("flushes with 0 segments and discards to zeros", async () => {
    await withHost(async (h) => {
      const disk = new MemoryStorage({ bytes: MiB, contents: new Uint8Array(8192).fill(0xaa) });
      const r = await rig(h, { storage: () => disk });
      await r.backendState(S.XenbusStateConnected);
      expect(await h.until(r.front.submit(rw(3, 1, 0, [])), "flush")).toEqual({
        id: 1,
        operation: 3,
        status: 0,
      });
      expect(disk.stats.flushes).toBe(1);
      const d = await h.until(
        r.front.submit({
          kind: "discard",
          operation: 5,
          flag: 0,
          handle: 51712,
          id: 2,
          sector_number: 4,
          nr_sectors: 8,
        }),
        "discard",
      );
      expect(d).toEqual({ id: 2, operation: 5, status: 0 });
      const b = new Uint8Array(8192);
      await disk.read(0, b);
      expect([b[2047], b[2048], b[6143], b[6144]]).toEqual([0xaa, 0, 0, 0xaa]);
      await r.finish();
    });
  });

  it("serves an indirect write of 40 segments and answers with indirect_op", async () => {
    await withHost(async (h) => {
      const disk = new MemoryStorage({ bytes: MiB });
      const r = await rig(h, { storage: () => disk });
      await r.backendState(S.XenbusStateConnected);
      const data = pattern(3, 40 * 4096);
      const pages = [...Array(40)].map((_, i) =>
        r.front.page((p) => p.write(0, data.subarray(i * 4096, (i + 1) * 4096))),
      );
      const ind = r.front.indirectPages(pages.map((g) => whole(g)));
      const rsp = await h.until(
        r.front.submit({
          kind: "indirect",
          operation: 6,
          indirect_op: 1,
          nr_segments: 40,
          handle: 51712,
          id: 9,
          sector_number: 16,
          indirect_grefs: ind.map((g) => g.ref),
        }),
        "indirect write",
      );
      expect(rsp).toEqual({ id: 9, operation: 1, status: 0 });
      const inDisk = new Uint8Array(40 * 4096);
      await disk.read(16 * 512, inDisk);
      expect(Buffer.from(inDisk).equals(Buffer.from(data))).toBe(true);
      await r.finish();
    });
  });

  it.each([
    ["an order-2 ring", { order: 2 }],
    ["2 queues", { queues: 2 }],
    ["the x86_32-abi protocol", { protocol: "x86_32-abi" }],
    ["no protocol node (x86_32-abi, BLKIF_PROTOCOL_DEFAULT)", { protocol: null }],
    ["persistent grants off", { persistent: false }],
    ["a frontend that writes Connected with its keys", { state: 4 }],
  ])("reads and writes with %s", async (_name, fo) => {
    await withHost(async (h) => {
      const disk = new MemoryStorage({ bytes: MiB });
      const r = await rig(h, { storage: () => disk, fo });
      await r.backendState(S.XenbusStateConnected);
      for (let q = 0; q < r.front.queues.length; q++) {
        const data = pattern(q + 5, 4096);
        const g = r.front.page((p) => p.write(0, data));
        expect(
          await h.until(r.front.submit(rw(1, 100 + q, 8 * q, [whole(g)]), q), "write"),
        ).toEqual({ id: 100 + q, operation: 1, status: 0 });
        const back = r.front.page();
        expect(
          await h.until(r.front.submit(rw(0, 200 + q, 8 * q, [whole(back)]), q), "read"),
        ).toEqual({ id: 200 + q, operation: 0, status: 0 });
        expect(Buffer.from(back.page.read(0, 4096)).equals(Buffer.from(data))).toBe(true);
      }
      await r.finish();
    });
  });

  it("keeps 32 requests in flight on a one-page ring and answers them all", async () => {
    await withHost(async (h) => {
      const disk = new MemoryStorage({ bytes: MiB });
      const r = await rig(h, { storage: () => disk });
      await r.backendState(S.XenbusStateConnected);
      const pages = [...Array(32)].map((_, i) => r.front.page((p) => p.fill(i + 1)));
      const all = pages.map((g, i) => r.front.submit(rw(1, i + 1, i * 8, [whole(g)])));
      const rsps = await h.until(Promise.all(all), "32 writes");
      expect(rsps.map((x) => x.status)).toEqual(Array(32).fill(0));
      const b = new Uint8Array(512);
      await disk.read(31 * 4096, b);
      expect(b[0]).toBe(32);
      await r.finish();
    });
  });

  it("serves 4096-byte sectors: sectors in 512-byte units, aligned I/O works, misaligned is an error", async () => {
    await withHost(async (h) => {
      const disk = new MemoryStorage({ bytes: MiB, sectorSize: 4096 });
      const r = await rig(h, { storage: () => disk });
      await r.backendState(S.XenbusStateConnected);
      expect([
        await r.read(`${r.be}/sectors`),
        await r.read(`${r.be}/sector-size`),
        await r.read(`${r.be}/physical-sector-size`),
      ]).toEqual(["2048", "4096", "4096"]);
      const g = r.front.page((p) => p.fill(0x5a));
      expect((await h.until(r.front.submit(rw(1, 1, 8, [whole(g)])), "aligned")).status).toBe(0);
      expect(
        (await h.until(r.front.submit(rw(1, 2, 4, [whole(g)])), "misaligned start")).status,
      ).toBe(-1);
      expect(
        (await h.until(r.front.submit(rw(1, 3, 8, [whole(g, 0, 3)])), "misaligned length")).status,
      ).toBe(-1);
      await r.finish();
    });
  });
});
