// Zero-copy I/O through the real pair: BlkfrontFrames granted to blkback themselves, with and
// without persistent grants, direct and indirect, across a backend restart, released; the data
// checked in the storage and in the frames, and no bounce page used.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { XEN_PAGE_SIZE } from "@pvkit/hypervisor-sim/abi";
import { BlkfrontError, type BlkfrontFrames, MemoryStorage } from "@pvkit/split-drivers";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import { GatedStorage } from "./gated-storage.js";
import { XVDA, connectedPair, pattern, same, serve, teardownPair, writeNode } from "./pair.js";

const S = XenbusState;

const DISK = 4 << 20;

/** The frames' bytes, copied out through their page views. */
function bytesOf(f: BlkfrontFrames): Uint8Array {
  const out = new Uint8Array(f.byteLength);
  for (let i = 0; i < f.pages.length; i++)
    f.pages[i]!.readInto(0, out, i * XEN_PAGE_SIZE, XEN_PAGE_SIZE);
  return out;
}

function fill(f: BlkfrontFrames, data: Uint8Array): void {
  for (let i = 0; i < f.pages.length; i++)
    f.pages[i]!.write(0, data.subarray(i * XEN_PAGE_SIZE, (i + 1) * XEN_PAGE_SIZE));
}

describe("blkfront frames (zero-copy)", () => {
  const host = useHost();

  for (const persistent of [true, false]) {
    it(`reads into and writes from frames, no bounce page, ${persistent ? "with" : "without"} persistent grants, direct and indirect`, async () => {
      const storage = new MemoryStorage({ bytes: DISK, contents: pattern(DISK, 1) });
      const p = await connectedPair(host(), {
        storage,
        front: { persistent, maxIndirectSegments: 64 },
        vcpus: 1, // one queue
      });
      const disk = p.disk;
      expect(disk.features.persistent).toBe(persistent);
      const q = disk.queues[0]!;
      // A one-frame read, a 40-frame (indirect) read.
      const one = disk.allocFrames(1);
      const many = disk.allocFrames(40);
      await p.until(disk.readSectorsInto(24, one));
      await p.until(disk.readSectorsInto(800, many));
      const want = pattern(DISK, 1);
      expect(same(bytesOf(one), want.subarray(24 * 512, 24 * 512 + 4096))).toBe(true);
      expect(same(bytesOf(many), want.subarray(800 * 512, 800 * 512 + 40 * 4096))).toBe(true);
      // Writes from the frames land in the storage.
      const data = pattern(40 * 4096, 2);
      fill(many, data);
      await p.until(disk.writeSectors(4000, many));
      const back = new Uint8Array(data.length);
      await storage.read(4000 * 512, back);
      expect(same(back, data)).toBe(true);
      // Vectored, mixing frames and a plain buffer (that one bounced).
      const plain = new Uint8Array(4096);
      await p.until(
        disk.readv([
          { sector: 4000, buffer: one },
          { sector: 4008, buffer: plain },
        ]),
      );
      expect(same(bytesOf(one), data.subarray(0, 4096))).toBe(true);
      expect(same(plain, data.subarray(4096, 8192))).toBe(true);
      // Only the plain buffer took bounce pages: one persistent grant, or none kept.
      expect(q.persistentGrants).toBe(persistent ? 1 : 0);
      expect(q.stats.indirect).toBe(2);
      one.release();
      many.release();
      await teardownPair(p);
      await storage.close();
    });
  }

  it("keeps a persistent frame's ref from one request to the next; release ends it and the pages go back", async () => {
    // One queue: a frame is granted once per queue that uses it.
    const p = await connectedPair(host(), {
      storage: new MemoryStorage({ bytes: DISK }),
      vcpus: 1,
    });
    const grants = p.bus.env.grants;
    const before = grants.active;
    const f = p.disk.allocFrames(2);
    await p.until(p.disk.readSectorsInto(0, f));
    expect(grants.active).toBe(before + 2);
    await p.until(p.disk.writeSectors(16, f));
    await p.until(p.disk.readSectorsInto(32, f));
    expect(grants.active).toBe(before + 2); // the same two refs, reused
    const allocated = p.bus.env.allocator.allocated;
    f.release();
    expect(f.released).toBe(true);
    expect(p.bus.env.allocator.allocated).toBe(allocated - 2);
    // blkback keeps persistent grants mapped: the ends are deferred, the pages quarantined.
    expect(grants.deferred).toBe(2);
    await p.until(
      p.disk.readSectorsInto(0, f).then(
        () => expect.unreachable(),
        (e: unknown) => expect((e as BlkfrontError).reason).toBe("invalid-argument"),
      ),
    );
    await teardownPair(p);
  });

  it("re-issues frames requests in flight across a backend restart, granting the frames to the new backend", async () => {
    const mem = new MemoryStorage({ bytes: DISK, contents: pattern(DISK, 3) });
    const storage = new GatedStorage(mem);
    const p = await connectedPair(host(), { storage, vcpus: 1 });
    const f = Array.from({ length: 4 }, () => p.disk.allocFrames(2));
    await p.until(p.disk.readSectorsInto(0, f[0]!)); // granted (persistent) to the first backend
    storage.shut();
    const reads = f.map((x, i) => p.disk.readSectorsInto(64 + i * 16, x));
    await p.h.hv.settle();
    expect(storage.held).toBe(4);
    const old = p.served;
    const oldXs = p.xs;
    const closing = old.close();
    await p.until(p.blk.registration.waitFor(XVDA, S.XenbusStateClosed), "blkfront closing");
    storage.open();
    await p.until(closing, "the old blkback closing");
    oldXs.close();
    const recovered = new Promise<number>((r) => p.disk.once("recovered", r));
    writeNode(
      p.h,
      `/local/domain/0/backend/vbd/${p.dom.domid}/${XVDA}/state`,
      String(S.XenbusStateInitialising),
    );
    Object.assign(p, serve(p.h, { storage }));
    expect(await p.until(recovered, "the disk recovering")).toBe(4);
    await p.until(Promise.all(reads), "the reads after the restart");
    const want = pattern(DISK, 3);
    f.forEach((x, i) => {
      const at = (64 + i * 16) * 512;
      expect(same(bytesOf(x), want.subarray(at, at + 2 * 4096))).toBe(true);
    });
    for (const x of f) x.release();
    await teardownPair(p);
    await mem.close();
  });

  it("checks frames I/O before the ring: a bad count, a range past the end", async () => {
    const p = await connectedPair(host(), { storage: new MemoryStorage({ bytes: DISK }) });
    expect(() => p.disk.allocFrames(0)).toThrow(RangeError);
    expect(() => p.disk.allocFrames(1.5)).toThrow(RangeError);
    const f = p.disk.allocFrames(1);
    await p.until(
      p.disk
        .writeSectors(0, f)
        .then(() => p.disk.readSectorsInto(p.disk.sectorCount - 4, f))
        .then(
          () => expect.unreachable(),
          (e: unknown) => {
            expect(e).toBeInstanceOf(BlkfrontError);
            expect((e as BlkfrontError).reason).toBe("out-of-range");
          },
        ),
    );
    f.release();
    await teardownPair(p);
  });
});
