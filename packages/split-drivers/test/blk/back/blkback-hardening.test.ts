// blkback against a hostile frontend: each check of Linux blkback as its own test, named after
// the rule or the advisory. The honest side (dom0) survives, answers, and reports.
import { describe, expect, it } from "vitest";
import { createTestHost, expectFinding, withHost } from "@pvkit/toolstack/testing";
import { MemoryStorage, type Storage } from "@pvkit/split-drivers";
import { S, rig, rw, whole } from "./raw-front.js";

const MiB = 1 << 20;

/** A memory disk that counts every storage call and runs `onIo` first. */
function counted(bytes = MiB, opts: { readOnly?: boolean } = {}) {
  const disk = new MemoryStorage({ bytes, ...opts });
  const calls: string[] = [];
  let onIo: (() => void) | undefined;
  const storage: Storage = {
    get sectorSize() {
      return disk.sectorSize;
    },
    get physicalSectorSize() {
      return disk.physicalSectorSize;
    },
    get sectors() {
      return disk.sectors;
    },
    get readOnly() {
      return disk.readOnly;
    },
    get discardable() {
      return disk.discardable;
    },
    get secureDiscard() {
      return disk.secureDiscard;
    },
    read: (o, b) => (calls.push(`read ${o} ${b.length}`), onIo?.(), disk.read(o, b)),
    write: (o, d) => (calls.push(`write ${o} ${d.length}`), onIo?.(), disk.write(o, d)),
    flush: () => (calls.push("flush"), disk.flush()),
    discard: (o, l, s) => (calls.push(`discard ${o} ${l}`), disk.discard(o, l, s)),
    close: () => disk.close(),
  };
  return { disk, calls, storage, setOnIo: (f: () => void) => (onIo = f) };
}

describe("blkback hardening", () => {
  it.each([
    ["bad nr_segments: 0 for a read", rw(0, 1, 0, []), -1],
    [
      "last_sect >= 8",
      { ...rw(0, 1, 0, []), nr_segments: 1, seg: [{ gref: 9, first_sect: 0, last_sect: 8 }] },
      -1,
    ],
    [
      "last_sect < first_sect",
      { ...rw(0, 1, 0, []), nr_segments: 1, seg: [{ gref: 9, first_sect: 5, last_sect: 4 }] },
      -1,
    ],
    [
      "a range past the end of the disk",
      rw(0, 1, 2048 - 4, [{ gref: 9, first_sect: 0, last_sect: 7 }]),
      -1,
    ],
    [
      "a range that wraps (sector_number near 2^53)",
      rw(0, 1, 2 ** 53 - 2, [{ gref: 9, first_sect: 0, last_sect: 7 }]),
      -1,
    ],
    ["an unknown operation (BLKIF_OP_RESERVED_1)", { kind: "other", operation: 4, id: 1 }, -2],
    [
      "an indirect request whose indirect_op is not READ/WRITE",
      {
        kind: "indirect",
        operation: 6,
        indirect_op: 3,
        nr_segments: 1,
        handle: 0,
        id: 1,
        sector_number: 0,
        indirect_grefs: [9],
      },
      -1,
    ],
    [
      "an indirect request with more than 256 segments",
      {
        kind: "indirect",
        operation: 6,
        indirect_op: 0,
        nr_segments: 257,
        handle: 0,
        id: 1,
        sector_number: 0,
        indirect_grefs: [9],
      },
      -1,
    ],
  ] as const)("answers %s with the right status and does no I/O", async (_name, req, status) => {
    await withHost(async (h) => {
      const c = counted();
      const r = await rig(h, { storage: () => c.storage });
      await r.backendState(S.XenbusStateConnected);
      const rsp = await h.until(r.front.submit(req as never), "the response");
      expect(rsp.status).toBe(status);
      expect(c.calls).toEqual([]);
      // The ring keeps being served after the error.
      const g = r.front.page((p) => p.fill(1));
      expect((await h.until(r.front.submit(rw(1, 2, 0, [whole(g)])), "a good write")).status).toBe(
        0,
      );
      await r.finish();
    });
  });

  it("refuses a write to a read-only disk (mode r) with BLKIF_RSP_ERROR and writes nothing", async () => {
    await withHost(async (h) => {
      const c = counted();
      const r = await rig(h, { storage: () => c.storage, vbd: { mode: "r" } });
      await r.backendState(S.XenbusStateConnected);
      expect(await r.read(`${r.be}/info`)).toBe("4"); // VDISK_READONLY
      const g = r.front.page((p) => p.fill(7));
      expect((await h.until(r.front.submit(rw(1, 1, 0, [whole(g)])), "write")).status).toBe(-1);
      expect((await h.until(r.front.submit(rw(0, 2, 0, [whole(g)])), "read")).status).toBe(0);
      expect(c.calls).toEqual(["read 0 4096"]);
      await r.finish();
    });
  });

  it("XSA-362/365: a map failure of segment 0 of a 12-segment indirect request is an error with no I/O and no mapping left", async () => {
    await withHost(async (h) => {
      const c = counted();
      const r = await rig(h, { storage: () => c.storage, fo: { persistent: false } });
      await r.backendState(S.XenbusStateConnected);
      const pages = [...Array(12)].map(() => r.front.page());
      const segs = pages.map((g) => whole(g));
      segs[0] = { gref: 4000, first_sect: 0, last_sect: 7 }; // never granted
      const ind = r.front.indirectPages(segs);
      const mappedBefore = h.dom0.guest.memory.nrPages; // (unused: the leak check below counts mappings)
      void mappedBefore;
      const rsp = await h.until(
        r.front.submit({
          kind: "indirect",
          operation: 6,
          indirect_op: 0,
          nr_segments: 12,
          handle: 0,
          id: 5,
          sector_number: 0,
          indirect_grefs: [ind[0]!.ref],
        }),
        "the response",
      );
      expect(rsp).toEqual({ id: 5, operation: 0, status: -1 });
      expect(c.calls).toEqual([]);
      const dev = r.served.device(r.dom.domid, 51712)!;
      expect(dev.env.mapper.mapped).toBe(1); // only the ring page
      await r.finish();
    });
  });

  it("XSA-155: the frontend rewriting the slot and the indirect page after the backend consumed them changes nothing", async () => {
    await withHost(async (h) => {
      const c = counted();
      const r = await rig(h, { storage: () => c.storage });
      await r.backendState(S.XenbusStateConnected);
      const pages = [...Array(2)].map((_, i) => r.front.page((p) => p.fill(0x10 + i)));
      const ind = r.front.indirectPages(pages.map((g) => whole(g)));
      const req = {
        kind: "indirect",
        operation: 6,
        indirect_op: 1,
        nr_segments: 2,
        handle: 0,
        id: 77,
        sector_number: 8,
        indirect_grefs: [ind[0]!.ref],
      } as const;
      const done = r.front.submit(req);
      const slot = r.front.lastSlot();
      const ring = r.front.queues[0]!.pages[0]!;
      // When the backend starts the I/O, the frontend rewrites everything it can reach.
      c.setOnIo(() => {
        ring.fill(0xff, slot, 112);
        ind[0]!.page.fill(0xee, 0, 4096);
      });
      const rsp = await h.until(done, "the response");
      expect(rsp).toEqual({ id: 77, operation: 1, status: 0 });
      expect(c.calls).toEqual(["write 4096 8192"]);
      const b = new Uint8Array(8192);
      await c.disk.read(4096, b);
      expect([b[0], b[4095], b[4096], b[8191]]).toEqual([0x10, 0x10, 0x11, 0x11]);
      await r.finish();
    });
  });

  it("RING_REQUEST_PROD_OVERFLOW halts the ring with a reason in the device's error node; dom0 lives on", async () => {
    await withHost(async (h) => {
      expectFinding(h, "ring-halted"); // the raw frontend is at fault, on purpose
      const c = counted();
      const r = await rig(h, { storage: () => c.storage });
      await r.backendState(S.XenbusStateConnected);
      const q = r.front.queues[0]!;
      q.pages[0]!.setU32(0, 1000); // req_prod far past the ring's 32 slots
      q.channel.notify();
      const dev = r.served.device(r.dom.domid, 51712)!;
      await h.until(
        (async () => {
          while (dev.data?.queues[0]?.halted === undefined) await h.hv.settle();
        })(),
        "the halt",
      );
      expect(dev.data!.queues[0]!.halted!.fault.reason).toBe("req-prod-overflow");
      expect(await r.read(`/local/domain/0/error/backend/vbd/${r.dom.domid}/51712/error`)).toMatch(
        /^13 Frontend provided bogus ring requests \(ring 0\): .*Halting ring processing on dev=51712$/,
      );
      expect(await r.read(`${r.be}/state`)).toBe("4"); // the xenbus state is unchanged, as Linux
      expect(c.calls).toEqual([]);
      await r.finish();
    });
  });

  it("XSA-332: 10^5 events with nothing on the ring cost dom0 one pass per EOI, with growing EOI delays, and real requests are still served", async () => {
    const t = await createTestHost();
    const h = t.host;
    t.sanitizer?.expect("notify-storm"); // the frontend's storm is the point of the test
    try {
      const c = counted();
      const r = await rig(h, { storage: () => c.storage });
      await r.backendState(S.XenbusStateConnected);
      const q = r.front.queues[0]!;
      const stats = r.served.device(r.dom.domid, 51712)!.data!.queues[0]!.stats;
      const before = stats.passes;
      const t0 = h.hv.scheduler.now;
      for (let i = 1; i <= 100_000; i++) {
        q.channel.notify();
        if (i % 1000 === 0) await h.hv.settle(); // dom0 gets to run between bursts
      }
      const g = r.front.page((p) => p.fill(3));
      const rsp = await h.until(r.front.submit(rw(1, 9, 0, [whole(g)])), "a write after the storm");
      expect(rsp.status).toBe(0);
      const passes = stats.passes - before;
      expect(passes).toBe(101); // one per EOI, not one per send
      expect(stats.spurious).toBe(99);
      expect(stats.delayedEois).toBe(98);
      // The delays were honoured: the storm took exactly the EOI delays blkback imposed.
      expect(stats.eoiDelayNs).toBe(89_023_000_000);
      expect(h.hv.scheduler.now - t0).toBe(stats.eoiDelayNs);
      await r.finish();
    } finally {
      await t.finish();
    }
  });
});
