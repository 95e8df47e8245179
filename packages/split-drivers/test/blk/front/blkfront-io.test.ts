// blkfront I/O against the raw backend: data verified through the sector, byte and stream
// interfaces, splitting into segments and indirect requests, queue depth, checks before the ring.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { useHost } from "@pvkit/toolstack/testing";
import { BLKIF_OP } from "@pvkit/hypervisor-sim/abi";
import type { BlkifRequest } from "@pvkit/split-drivers";
import { connected, pattern, teardown } from "./helpers.js";

const segs = (r: BlkifRequest): number =>
  r.kind === "rw" || r.kind === "indirect" ? r.nr_segments : 0;

describe("blkfront I/O", () => {
  const host = useHost();

  it("writes sectors and reads them back, the backend storage holding the bytes", async () => {
    const r = await connected(host());
    const data = pattern(4096, 1);
    await r.until(r.disk.writeSectors(8, data));
    expect(
      Buffer.from(r.be.storage.subarray(8 * 512, 8 * 512 + 4096)).equals(Buffer.from(data)),
    ).toBe(true);
    const back = await r.until(r.disk.readSectors(8, 8));
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(r.disk.size).toBe(8192 * 512);
    expect(r.disk.sectorSize).toBe(512);
    await teardown(r);
  });

  it("splits a 1 MiB write into 11-segment requests without indirect, and into 32-segment indirect requests by default", async () => {
    const old = await connected(host());
    await old.until(old.disk.writeSectors(0, pattern(1 << 20, 2)));
    expect(old.be.requests.map(segs)).toEqual([...Array(23).fill(11), 3]);
    expect(
      old.be.requests.every((q) => q.kind === "rw" && q.operation === BLKIF_OP.BLKIF_OP_WRITE),
    ).toBe(true);
    await teardown(old);
  });

  it("uses min(offer, own limit, 32) indirect segments: 32 when the backend offers 256", async () => {
    const r = await connected(host(), {
      back: { probeKeys: { "feature-max-indirect-segments": 256 } },
    });
    expect(r.disk.features.maxIndirectSegments).toBe(32);
    await r.until(r.disk.writeSectors(0, pattern(1 << 20, 3)));
    expect(r.be.requests.map(segs)).toEqual(Array(8).fill(32));
    expect(
      r.be.requests.every(
        (q) => q.kind === "indirect" && q.indirect_op === BLKIF_OP.BLKIF_OP_WRITE,
      ),
    ).toBe(true);
    await teardown(r);
  });

  it("sends one 256-segment indirect request for 1 MiB when both ends allow 256", async () => {
    const r = await connected(host(), {
      front: { maxIndirectSegments: 256 },
      back: { probeKeys: { "feature-max-indirect-segments": 256 } },
    });
    const data = pattern(1 << 20, 4);
    await r.until(r.disk.writeSectors(0, data));
    expect(r.be.requests.map(segs)).toEqual([256]);
    const back = await r.until(r.disk.readSectors(0, 2048));
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(
      r.be.requests.map((q) => (q.kind === "indirect" ? q.indirect_grefs.length : -1)),
    ).toEqual([1, 1]);
    await teardown(r);
  });

  it("waits for responses to free pages when the guest's page allocator runs out, instead of failing the I/O", async () => {
    // 1 MiB of guest RAM: the allocator's upper half is 128 pages, less than a 4 MiB write needs.
    const r = await connected(host(), { memory: 1 });
    const data = pattern(4 << 20, 5);
    await r.until(r.disk.writeSectors(0, data));
    expect(Buffer.from(r.be.storage.subarray(0, 4 << 20)).equals(Buffer.from(data))).toBe(true);
    expect(r.be.requests.length).toBe(94); // more, smaller requests than the 32 a roomy guest sends
    await teardown(r);
  });

  it("keeps the ring full: 100 reads in flight at once fill all 32 slots", async () => {
    const r = await connected(host());
    r.be.hold = true;
    const reads = Array.from({ length: 100 }, (_, i) => r.disk.readSectors(i * 8, 8));
    await r.until(r.be.idle());
    await r.h.hv.settle();
    expect(r.disk.inFlight).toBe(32);
    expect(r.be.requests.length).toBe(32);
    r.be.release();
    await r.until(Promise.all(reads), "100 reads");
    expect(r.disk.stats.maxInFlight).toBe(32);
    expect(r.be.requests.length).toBe(100);
    await teardown(r);
  });

  it("readv / writev: 100 scattered blocks in one call, the ring kept full, each ring pushed once per batch", async () => {
    const r = await connected(host());
    const blocks = Array.from({ length: 100 }, (_, i) => ((i * 37) % 1000) * 8);
    const data = blocks.map((_, i) => pattern(4096, 100 + i));
    await r.until(r.disk.writev(blocks.map((sector, i) => ({ sector, buffer: data[i]! }))));
    for (let i = 0; i < blocks.length; i++)
      expect(
        Buffer.from(r.be.storage.subarray(blocks[i]! * 512, blocks[i]! * 512 + 4096)).equals(
          Buffer.from(data[i]!),
        ),
      ).toBe(true);
    expect(r.be.requests.length).toBe(100);
    r.be.hold = true;
    const bufs = blocks.map(() => new Uint8Array(4096));
    const reads = r.disk.readv(blocks.map((sector, i) => ({ sector, buffer: bufs[i]! })));
    await r.until(r.be.idle());
    await r.h.hv.settle();
    expect(r.disk.inFlight).toBe(32);
    const before = r.disk.queues[0]!.stats.notifications;
    r.be.release();
    await r.until(reads, "100 reads");
    for (let i = 0; i < blocks.length; i++)
      expect(Buffer.from(bufs[i]!).equals(Buffer.from(data[i]!))).toBe(true);
    expect(r.be.requests.length).toBe(200);
    expect(r.disk.queues[0]!.stats.notifications - before).toBe(3);
    await teardown(r);
  });

  it("readv / writev check every element before queueing any, and reject with the first failure", async () => {
    const r = await connected(host());
    const ok = { sector: 0, buffer: new Uint8Array(512) };
    await expect(
      r.disk.readv([ok, { sector: 8190, buffer: new Uint8Array(4096) }]),
    ).rejects.toMatchObject({ reason: "out-of-range" });
    await expect(
      r.disk.writev([ok, { sector: 0, buffer: new Uint8Array(100) }]),
    ).rejects.toMatchObject({ reason: "invalid-argument" });
    expect(r.be.requests.length).toBe(0);
    await r.until(r.disk.readv([]));
    r.be.respond = (req, rsp) => [
      req.kind === "rw" && req.sector_number === 16 ? { ...rsp, status: -1 } : rsp,
    ];
    const bufs = [new Uint8Array(512), new Uint8Array(512), new Uint8Array(512)];
    await expect(
      r.until(r.disk.readv([8, 16, 24].map((sector, i) => ({ sector, buffer: bufs[i]! })))),
    ).rejects.toMatchObject({ reason: "io-error" });
    await r.h.hv.settle();
    expect(r.be.requests.length).toBe(3);
    await teardown(r);
  });

  it("rejects I/O past the end before it reaches the ring", async () => {
    const r = await connected(host());
    await expect(r.disk.readSectors(8190, 4)).rejects.toMatchObject({ reason: "out-of-range" });
    await expect(r.disk.writeSectors(8192, new Uint8Array(512))).rejects.toMatchObject({
      reason: "out-of-range",
    });
    await expect(r.disk.write(new Uint8Array(2), 0, 2, r.disk.size - 1)).rejects.toMatchObject({
      reason: "out-of-range",
    });
    await expect(r.disk.writeSectors(0, new Uint8Array(100))).rejects.toMatchObject({
      reason: "invalid-argument",
    });
    const { bytesRead } = await r.until(r.disk.read(new Uint8Array(10), 0, 10, r.disk.size - 4));
    expect(bytesRead).toBe(4);
    expect(r.be.requests.length).toBe(1);
    await teardown(r);
  });

  it("refuses writes and discards on a read-only disk (VDISK_READONLY) and still reads", async () => {
    const r = await connected(host(), { back: { connectKeys: { info: 4, "feature-discard": 1 } } });
    r.be.storage.set(pattern(512, 5), 0);
    expect(r.disk.readOnly).toBe(true);
    await expect(r.disk.writeSectors(0, new Uint8Array(512))).rejects.toMatchObject({
      reason: "read-only",
    });
    await expect(r.disk.discard(0, 1)).rejects.toMatchObject({ reason: "read-only" });
    expect(
      Buffer.from(await r.until(r.disk.readSectors(0, 1))).equals(Buffer.from(pattern(512, 5))),
    ).toBe(true);
    expect(r.be.requests.length).toBe(1);
    await teardown(r);
  });

  it("works in 4096-byte sectors, counting the wire in 512-byte units", async () => {
    const r = await connected(host(), { back: { connectKeys: { "sector-size": 4096 } } });
    expect(r.disk.sectorSize).toBe(4096);
    expect(r.disk.physicalSectorSize).toBe(4096);
    expect(r.disk.sectorCount).toBe(1024);
    await r.until(r.disk.writeSectors(3, pattern(8192, 6)));
    expect(r.be.requests[0]).toMatchObject({ sector_number: 24, nr_segments: 2 });
    await r.until(r.disk.write(pattern(10, 7), 0, 10, 4096 * 3 + 5));
    const back = await r.until(r.disk.readSectors(3, 1));
    expect(Buffer.from(back.subarray(5, 15)).equals(Buffer.from(pattern(10, 7)))).toBe(true);
    await expect(r.disk.writeSectors(0, new Uint8Array(512))).rejects.toMatchObject({
      reason: "invalid-argument",
    });
    await teardown(r);
  });

  it("grants write data read-only and read buffers writable, zero outside the request (XSA-403)", async () => {
    const r = await connected(host());
    const grants: { ro: boolean; tail: number }[] = [];
    r.be.respond = (req, rsp) => {
      if (req.kind === "rw" && req.nr_segments > 0) {
        for (const s of req.seg) {
          const env = r.h.dom0;
          const m = (() => {
            try {
              return { ro: false, m: envMap(r, s.gref, false) };
            } catch {
              return { ro: true, m: envMap(r, s.gref, true) };
            }
          })();
          grants.push({
            ro: m.ro,
            tail: m.m.bytes.subarray((s.last_sect + 1) * 512).reduce((a, b) => a + b, 0),
          });
          void env;
        }
      }
      return [rsp];
    };
    await r.until(
      r.disk.writeSectors(
        0,
        pattern(1024, 9).map((b) => b | 1),
      ),
    );
    await r.until(r.disk.readSectors(0, 2));
    expect(grants).toEqual([
      { ro: true, tail: 0 },
      { ro: false, tail: 0 },
    ]);
    await teardown(r);
  });
});

// Bursts of small concurrent requests: most are pushed without a notification (the backend had
// not asked for one) and answered before anyone looks at the ring again, so their slots hold
// the responses by then (io/ring.h entries are a union). The sanitizer takes the ids from
// blkfront's own ring operations, so it stays on here.
describe("blkfront I/O in bursts", () => {
  const host = useHost();

  it("keeps byte-offset reads and writes exact for random offsets and sizes", async () => {
    const r = await connected(host(), {
      back: { probeKeys: { "feature-max-indirect-segments": 256 } },
    });
    const model = new Uint8Array(r.disk.size);
    await fc.assert(
      fc.asyncProperty(
        fc.nat(r.disk.size - 1),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer(),
        async (pos, len0, seed) => {
          const len = Math.min(len0, r.disk.size - pos);
          const data = pattern(len, seed);
          await r.until(r.disk.write(data, 0, len, pos));
          model.set(data, pos);
          const rpos = Math.max(0, pos - 700);
          const rlen = Math.min(len + 1400, r.disk.size - rpos);
          const out = new Uint8Array(rlen);
          const { bytesRead } = await r.until(r.disk.read(out, 0, rlen, rpos));
          expect(bytesRead).toBe(rlen);
          expect(Buffer.from(out).equals(Buffer.from(model.subarray(rpos, rpos + rlen)))).toBe(
            true,
          );
          expect(Buffer.from(r.be.storage).equals(Buffer.from(model))).toBe(true);
        },
      ),
      { numRuns: 40, seed: 11 },
    );
    await teardown(r);
  });

  it("streams the disk through a Readable and an async iterator, and writes through a Writable", async () => {
    const r = await connected(host(), { back: { sectors: 256 } });
    const data = pattern(256 * 512, 8);
    const ws = r.disk.createWriteStream();
    const done = new Promise<void>((res, rej) => ws.on("finish", res).on("error", rej));
    for (let i = 0; i < data.length; i += 10_000)
      ws.write(Buffer.from(data.subarray(i, i + 10_000)));
    ws.end();
    await r.until(done, "the write stream");
    expect(Buffer.from(r.be.storage).equals(Buffer.from(data))).toBe(true);
    const parts: Uint8Array[] = [];
    await r.until(
      (async () => {
        for await (const c of r.disk) parts.push(c);
      })(),
      "iterating",
    );
    expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
    const got: Buffer[] = [];
    const rs = r.disk.createReadStream({ start: 1000, end: 5999 });
    await r.until(
      new Promise<void>((res, rej) =>
        rs
          .on("data", (c: Buffer) => got.push(c))
          .on("end", res)
          .on("error", rej),
      ),
      "the read stream",
    );
    expect(Buffer.concat(got).equals(Buffer.from(data.subarray(1000, 6000)))).toBe(true);
    await teardown(r);
  });
});

/** Maps a guest grant in dom0 (writable or read-only), copies the page, unmaps. */
function envMap(
  r: { h: import("@pvkit/toolstack").Host; dom: { domid: number } },
  gref: number,
  ro: boolean,
): { bytes: Uint8Array } {
  const mapper = new (require_mapper())(r.h.dom0.guest);
  const m = ro
    ? mapper.mapOne(gref, r.dom.domid, { readonly: true })
    : mapper.mapOne(gref, r.dom.domid);
  const bytes = m.page.read(0, 4096);
  m.unmap();
  return { bytes };
}
import { GrantMapper } from "@pvkit/guest-sdk";
const require_mapper = (): typeof GrantMapper => GrantMapper;
