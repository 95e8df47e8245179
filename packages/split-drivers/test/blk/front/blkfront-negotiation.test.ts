// blkfront's negotiation against backends offering different keys: every default when a key
// is absent, the oldest backend, odd state walks, ring orders, queues, flush/barrier, discard
// and EOPNOTSUPP, fatal keys, resize.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { BLKIF_OP } from "@pvkit/hypervisor-sim/abi";
import { XVDA, connected, readNode, rig, teardown } from "./helpers.js";

const fe = (domid: number, k: string): string => `/local/domain/${domid}/device/vbd/${XVDA}/${k}`;

describe("blkfront negotiation", () => {
  const host = useHost();

  it("uses every default when the backend writes only sectors, info and sector-size (the oldest backend)", async () => {
    const r = await connected(host());
    const h = r.h;
    expect(readNode(h, fe(r.dom.domid, "ring-ref"))).toMatch(/^\d+$/);
    expect(readNode(h, fe(r.dom.domid, "ring-page-order"))).toBeUndefined();
    expect(readNode(h, fe(r.dom.domid, "multi-queue-num-queues"))).toBeUndefined();
    expect(readNode(h, fe(r.dom.domid, "protocol"))).toBe("x86_64-abi");
    expect(readNode(h, fe(r.dom.domid, "feature-persistent"))).toBe("1");
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
    expect(r.disk.physicalSectorSize).toBe(512);
    await r.until(r.disk.flush());
    expect(r.be.requests).toEqual([]);
    await expect(r.disk.discard(0, 8)).rejects.toMatchObject({ reason: "not-supported" });
    await teardown(r);
  });

  for (const order of [0, 1, 2, 3]) {
    it(`uses ring order ${order} when both ends allow it, with ${32 << order} slots`, async () => {
      const r = await connected(host(), {
        front: { maxRingPageOrder: 3 },
        back: { probeKeys: { "max-ring-page-order": order } },
      });
      expect(r.disk.features.ringPageOrder).toBe(order);
      expect(r.disk.queues[0]!.ring.size).toBe(32 << order);
      expect(
        readNode(r.h, fe(r.dom.domid, order === 0 ? "ring-ref" : `ring-ref${(1 << order) - 1}`)),
      ).toMatch(/^\d+$/);
      expect(readNode(r.h, fe(r.dom.domid, "ring-page-order"))).toBe(
        order === 0 ? undefined : String(order),
      );
      await r.until(r.disk.writeSectors(0, new Uint8Array(4096).fill(order + 1)));
      expect(r.be.storage[4095]).toBe(order + 1);
      await teardown(r);
    });
  }

  it("takes min(own order, offered order): order 0 by default whatever the backend offers", async () => {
    const r = await connected(host(), { back: { probeKeys: { "max-ring-page-order": 4 } } });
    expect(r.disk.features.ringPageOrder).toBe(0);
    await teardown(r);
  });

  for (const queues of [2, 4]) {
    it(`uses ${queues} queues under queue-N/ with multi-queue-num-queues`, async () => {
      const r = await connected(host(), {
        vcpus: 4,
        back: { probeKeys: { "multi-queue-max-queues": queues } },
      });
      expect(r.disk.features.queues).toBe(queues);
      expect(readNode(r.h, fe(r.dom.domid, "multi-queue-num-queues"))).toBe(String(queues));
      expect(readNode(r.h, fe(r.dom.domid, "ring-ref"))).toBeUndefined();
      expect(readNode(r.h, fe(r.dom.domid, "event-channel"))).toBeUndefined();
      expect(readNode(r.h, fe(r.dom.domid, `queue-${queues - 1}/ring-ref`))).toMatch(/^\d+$/);
      expect(readNode(r.h, fe(r.dom.domid, `queue-${queues - 1}/event-channel`))).toMatch(/^\d+$/);
      await r.until(
        Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            r.disk.writeSectors(i * 8, new Uint8Array(4096).fill(i + 1)),
          ),
        ),
      );
      expect(r.disk.queues.map((q) => q.stats.requests)).toEqual(Array(queues).fill(8 / queues));
      expect([...Array(8).keys()].map((i) => r.be.storage[i * 4096])).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8,
      ]);
      await teardown(r);
    });
  }

  it("uses one queue when the backend offers multi-queue-max-queues 0", async () => {
    const r = await connected(host(), {
      vcpus: 4,
      back: { probeKeys: { "multi-queue-max-queues": 0 } },
    });
    expect(r.disk.features.queues).toBe(1);
    await teardown(r);
  });

  it("prefers feature-flush-cache over feature-barrier", async () => {
    const r = await connected(host(), {
      back: { connectKeys: { "feature-barrier": 1, "feature-flush-cache": 1 } },
    });
    expect(r.disk.features).toMatchObject({ flush: "flush-cache", fua: false });
    await r.until(r.disk.flush());
    expect(r.be.requests).toMatchObject([
      { operation: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE, nr_segments: 0 },
    ]);
    await teardown(r);
  });

  it("falls back to an empty write barrier with feature-barrier only", async () => {
    const r = await connected(host(), { back: { connectKeys: { "feature-barrier": 1 } } });
    expect(r.disk.features).toMatchObject({ flush: "barrier", fua: true });
    await r.until(r.disk.flush());
    expect(r.be.requests).toMatchObject([
      { operation: BLKIF_OP.BLKIF_OP_WRITE_BARRIER, nr_segments: 0 },
    ]);
    await teardown(r);
  });

  it("turns flushing off when a flush is answered EOPNOTSUPP, completing it", async () => {
    const r = await connected(host(), {
      back: {
        connectKeys: { "feature-flush-cache": 1 },
        unsupported: [BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE],
      },
    });
    await r.until(r.disk.flush());
    expect(r.disk.features.flush).toBe("none");
    await r.until(r.disk.flush());
    expect(r.be.requests.length).toBe(1);
    await teardown(r);
  });

  it("turns discard off when a discard is answered EOPNOTSUPP", async () => {
    const r = await connected(host(), {
      back: { connectKeys: { "feature-discard": 1 }, unsupported: [BLKIF_OP.BLKIF_OP_DISCARD] },
    });
    expect(r.disk.features.discard).toEqual({ granularity: 512, alignment: 0, secure: false });
    await expect(r.until(r.disk.discard(0, 8))).rejects.toMatchObject({ reason: "not-supported" });
    expect(r.disk.features.discard).toBeUndefined();
    await expect(r.disk.discard(0, 8)).rejects.toMatchObject({ reason: "not-supported" });
    expect(r.be.requests.length).toBe(1);
    await teardown(r);
  });

  it("discards with the granularity, alignment and secure flag the backend offers", async () => {
    const r = await connected(host(), {
      back: {
        connectKeys: {
          "feature-discard": 1,
          "discard-granularity": 4096,
          "discard-alignment": 512,
          "discard-secure": 1,
        },
      },
    });
    r.be.storage.fill(7, 0, 8192);
    expect(r.disk.features.discard).toEqual({ granularity: 4096, alignment: 512, secure: true });
    await r.until(r.disk.discard(2, 4, { secure: true }));
    expect(r.be.requests).toMatchObject([
      { kind: "discard", flag: 1, sector_number: 2, nr_sectors: 4 },
    ]);
    expect([
      r.be.storage[1023],
      r.be.storage[1024],
      r.be.storage[3071],
      r.be.storage[3072],
    ]).toEqual([7, 0, 0, 7]);
    await teardown(r);
  });

  it("uses persistent grants only when both ends say 1, and reuses their pages", async () => {
    const r = await connected(host(), { back: { connectKeys: { "feature-persistent": 1 } } });
    expect(r.disk.features.persistent).toBe(true);
    for (let i = 0; i < 3; i++)
      await r.until(r.disk.writeSectors(i * 8, new Uint8Array(4096).fill(i + 1)));
    expect(r.disk.queues[0]!.persistentGrants).toBe(1);
    expect(Buffer.from(await r.until(r.disk.readSectors(16, 8))).every((b) => b === 3)).toBe(true);
    await teardown(r);
  });

  it("does not use persistent grants when the frontend does not advertise them", async () => {
    const off = await connected(host(), {
      front: { persistent: false },
      back: { connectKeys: { "feature-persistent": 1 } },
    });
    expect(readNode(off.h, fe(off.dom.domid, "feature-persistent"))).toBe("0");
    expect(off.disk.features.persistent).toBe(false);
    await teardown(off);
  });

  it("connects to a backend that goes straight to Connected", async () => {
    const r = await connected(host(), { back: { mode: "straight-to-connected" } });
    await r.until(r.disk.writeSectors(0, new Uint8Array(512).fill(9)));
    expect(r.be.storage[0]).toBe(9);
    await teardown(r);
  });

  it("connects at once to a backend parked in Initialised (no InitWait timeout)", async () => {
    const h = host();
    const t0 = h.hv.now;
    const r = await connected(h, { back: { mode: "parked-initialised" } });
    expect(h.hv.now - t0).toBe(0);
    await r.until(r.disk.writeSectors(0, new Uint8Array(512).fill(9)));
    await teardown(r);
  });

  it("is fatal with Linux's message when sectors is absent", async () => {
    const r = await rig(host(), { back: { connectKeys: { sectors: undefined } } });
    // The raw backend spreads connectKeys over its defaults: an explicit undefined leaves sectors unwritten.
    await r.until(r.blk.registration.waitFor(XVDA, 5), "the frontend going Closing");
    expect(readNode(r.h, `/local/domain/${r.dom.domid}/error/device/vbd/${XVDA}/error`)).toMatch(
      new RegExp(
        `^2 connect: .*device/vbd/${XVDA}: reading backend fields at /local/domain/0/backend/vbd/${r.dom.domid}/${XVDA}$`,
      ),
    );
    await teardown(r, { allowErrors: true });
  });

  it("is fatal when sector-size is not a power of two", async () => {
    const r = await rig(host(), { back: { connectKeys: { "sector-size": 1000 } } });
    await r.until(r.blk.registration.waitFor(XVDA, 5), "the frontend going Closing");
    expect(readNode(r.h, `/local/domain/${r.dom.domid}/error/device/vbd/${XVDA}/error`)).toMatch(
      new RegExp(
        `^22 connect: .*device/vbd/${XVDA}: xlvbd_add at /local/domain/0/backend/vbd/${r.dom.domid}/${XVDA}$`,
      ),
    );
    await teardown(r, { allowErrors: true });
  });

  it("resizes when the backend rewrites sectors", async () => {
    const r = await connected(host());
    const seen: number[][] = [];
    r.disk.on("resize", (a, b) => seen.push([a, b]));
    await r.until(r.be.writeKeys({ sectors: 16384 }));
    await r.h.hv.settle();
    expect(seen).toEqual([[8192 * 512, 16384 * 512]]);
    expect(r.disk.sectorCount).toBe(16384);
    await teardown(r);
  });
});
