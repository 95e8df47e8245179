// Regression tests, one per known attack on a backend, end to end: our blkback in dom0 against a
// scripted hostile frontend in a domU (raw-front.ts: our blkfront cannot be made to lie). The
// honest side — blkback and dom0 — survives each, reports it where Linux does, keeps serving,
// and loses no write it acknowledged.
import { describe, expect, it } from "vitest";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import type { Host } from "@pvkit/toolstack";
import { createTestHost, withHost } from "@pvkit/toolstack/testing";
import { type BlkifRequest, MemoryStorage } from "@pvkit/split-drivers";
import { RawFront, type Rig, rig, rw, whole } from "../back/raw-front.js";
import { GatedStorage } from "./gated-storage.js";
import { pattern, same } from "./pair.js";

const S = XenbusState;
const MiB = 1 << 20;

/** A connected hostile frontend over a gated memory disk, with an acknowledged 4 KiB write at sector 0. */
async function hostile(
  h: Host,
): Promise<{ r: Rig; mem: MemoryStorage; gate: GatedStorage; check: () => Promise<void> }> {
  const mem = new MemoryStorage({ bytes: MiB });
  const gate = new GatedStorage(mem);
  const r = await rig(h, { storage: () => gate, fo: { persistent: false } });
  await r.backendState(S.XenbusStateConnected);
  const data = pattern(4096, 55);
  const g = r.front.page((p) => p.write(0, data));
  expect(
    (await h.until(r.front.submit(rw(1, 1, 0, [whole(g)])), "the acknowledged write")).status,
  ).toBe(0);
  const check = async (): Promise<void> => {
    const b = new Uint8Array(4096);
    await mem.read(0, b);
    expect(same(b, data)).toBe(true);
  };
  return { r, mem, gate, check };
}

/** blkback still serves: a write and a read back through the same ring. */
async function stillServes(h: Host, r: Rig, id: number): Promise<void> {
  const data = pattern(4096, id);
  const g = r.front.page((p) => p.write(0, data));
  expect(
    (await h.until(r.front.submit(rw(1, id, 512, [whole(g)])), "an honest write")).status,
  ).toBe(0);
  const back = r.front.page();
  expect(
    (await h.until(r.front.submit(rw(0, id + 1, 512, [whole(back)])), "an honest read")).status,
  ).toBe(0);
  expect(same(back.page.read(0, 4096), data)).toBe(true);
}

describe("blk e2e attacks on blkback", () => {
  it("XSA-155: rewriting the request slot after notifying, while blkback does the I/O, changes nothing it does", async () => {
    await withHost(async (h) => {
      const { r, mem, gate, check } = await hostile(h);
      const data = pattern(8192, 5);
      const pages = [0, 1].map((i) =>
        r.front.page((p) => p.write(0, data.subarray(i * 4096, (i + 1) * 4096))),
      );
      gate.shut();
      const done = r.front.submit(
        rw(
          1,
          40,
          64,
          pages.map((g) => whole(g)),
        ),
      );
      const slot = r.front.lastSlot();
      await h.hv.settle();
      expect(gate.held).toBe(1);
      // The whole slot rewritten: operation, nr_segments, id, sector 0 (the acknowledged data), grefs.
      r.front.queues[0]!.pages[0]!.fill(0x00, slot, 112);
      gate.open();
      expect(await h.until(done, "the response")).toEqual({ id: 40, operation: 1, status: 0 });
      const b = new Uint8Array(8192);
      await mem.read(64 * 512, b);
      expect(same(b, data)).toBe(true);
      await check();
      await stillServes(h, r, 41);
      await r.finish();
    });
  });

  it("XSA-155: rewriting the indirect page after notifying, while blkback does the I/O, changes nothing it does", async () => {
    await withHost(async (h) => {
      const { r, mem, gate, check } = await hostile(h);
      const data = pattern(12 * 4096, 6);
      const pages = [...Array(12)].map((_, i) =>
        r.front.page((p) => p.write(0, data.subarray(i * 4096, (i + 1) * 4096))),
      );
      const ind = r.front.indirectPages(pages.map((g) => whole(g)));
      gate.shut();
      const req: BlkifRequest = {
        kind: "indirect",
        operation: 6,
        indirect_op: 1,
        nr_segments: 12,
        handle: 0,
        id: 50,
        sector_number: 128,
        indirect_grefs: [ind[0]!.ref],
      };
      const done = r.front.submit(req);
      await h.hv.settle();
      expect(gate.held).toBe(1);
      // Every segment now names the first data page, sectors 0..0.
      const p = ind[0]!.page;
      for (let i = 0; i < 512; i++) {
        p.setU32(i * 8, pages[0]!.ref);
        p.setU8(i * 8 + 4, 0);
        p.setU8(i * 8 + 5, 0);
      }
      gate.open();
      expect(await h.until(done, "the response")).toEqual({ id: 50, operation: 1, status: 0 });
      const b = new Uint8Array(12 * 4096);
      await mem.read(128 * 512, b);
      expect(same(b, data)).toBe(true);
      await check();
      await stillServes(h, r, 51);
      await r.finish();
    });
  });

  it("XSA-216: responses are written whole: a canary-filled ring shows zeros in every response's padding", async () => {
    await withHost(async (h) => {
      const { r, check } = await hostile(h);
      const q = r.front.queues[0]!;
      const ring = q.pages[0]!;
      ring.fill(0xaa, 64 + 112, 4096 - 64 - 112); // every slot but the one used already
      // ids whose bytes land on the response's padding (offsets 9 and 12..15 of a slot) as 0xaa.
      const ids = [0xaaaa_aaaa_aa02, 0xaaaa_aaaa_aa03, 0xaaaa_aaaa_aa04];
      const g = r.front.page();
      const rsps = await h.until(
        Promise.all(ids.map((id) => r.front.submit(rw(0, id, 0, [whole(g)])))),
        "three reads",
      );
      expect(rsps.map((x) => x.status)).toEqual([0, 0, 0]);
      for (let i = 1; i <= 3; i++) {
        const at = 64 + i * 112;
        expect([
          ring.getU8(at + 9),
          ring.getU8(at + 12),
          ring.getU8(at + 13),
          ring.getU8(at + 14),
          ring.getU8(at + 15),
        ]).toEqual([0, 0, 0, 0, 0]);
      }
      await check();
      await r.finish();
    });
  });

  describe("on blkback's synchronous path (persistent grants, memory storage: requests served straight from the private copy)", () => {
    /** A memory disk that runs `during` inside each page write (as a frontend racing the I/O would). */
    class RacingStorage extends MemoryStorage {
      during: (() => void) | undefined;
      override writeFromPages(...a: Parameters<MemoryStorage["writeFromPages"]>): void {
        this.during?.();
        super.writeFromPages(...a);
      }
    }
    async function fast(h: Host): Promise<{ r: Rig; mem: RacingStorage }> {
      const mem = new RacingStorage({ bytes: MiB });
      const r = await rig(h, { storage: () => mem, fo: { persistent: true } });
      await r.backendState(S.XenbusStateConnected);
      return { r, mem };
    }

    it("XSA-155: the request slot rewritten during the storage write changes nothing blkback does", async () => {
      await withHost(async (h) => {
        const { r, mem } = await fast(h);
        const data = pattern(8192, 9);
        const pages = [0, 1].map((i) =>
          r.front.page((p) => p.write(0, data.subarray(i * 4096, (i + 1) * 4096))),
        );
        let slot = -1;
        mem.during = () => {
          mem.during = undefined;
          r.front.queues[0]!.pages[0]!.fill(0x00, slot, 112); // operation, nr_segments, id, sector 0, grefs
        };
        const done = r.front.submit(
          rw(
            1,
            70,
            64,
            pages.map((g) => whole(g)),
          ),
        );
        slot = r.front.lastSlot();
        expect(await h.until(done, "the response")).toEqual({ id: 70, operation: 1, status: 0 });
        const b = new Uint8Array(8192);
        await mem.read(64 * 512, b);
        expect(same(b, data)).toBe(true);
        const zero = new Uint8Array(4096);
        await mem.read(0, zero);
        expect(zero.every((x) => x === 0)).toBe(true); // nothing written at sector 0
        await stillServes(h, r, 71);
        await r.finish();
      });
    });

    it("XSA-216: responses are written whole: a canary-filled ring shows zeros in every response's padding", async () => {
      await withHost(async (h) => {
        const { r } = await fast(h);
        const q = r.front.queues[0]!;
        const ring = q.pages[0]!;
        ring.fill(0xaa, 64, 4096 - 64);
        const ids = [0xaaaa_aaaa_aa02, 0xaaaa_aaaa_aa03, 0xaaaa_aaaa_aa04];
        const g = r.front.page();
        const rsps = await h.until(
          Promise.all(ids.map((id) => r.front.submit(rw(0, id, 0, [whole(g)])))),
          "three reads",
        );
        expect(rsps.map((x) => [x.id, x.status])).toEqual(ids.map((id) => [id, 0]));
        for (let i = 0; i < 3; i++) {
          const at = 64 + i * 112;
          expect([
            ring.getU8(at + 9),
            ring.getU8(at + 12),
            ring.getU8(at + 13),
            ring.getU8(at + 14),
            ring.getU8(at + 15),
          ]).toEqual([0, 0, 0, 0, 0]);
        }
        await r.finish();
      });
    });
  });

  it("XSA-332 and XSA-391, backend side: 10^5 events with nothing on the ring cost dom0 one pass per late EOI, and real requests are still served", async () => {
    const t = await createTestHost();
    t.sanitizer?.expect("notify-storm"); // the frontend's storm is the point of the test
    try {
      const h = t.host;
      const { r, check } = await hostile(h);
      const stats = r.served.device(r.dom.domid, 51712)!.data!.queues[0]!.stats;
      const before = stats.passes;
      for (let i = 1; i <= 100_000; i++) {
        r.front.queues[0]!.channel.notify();
        if (i % 1000 === 0) await h.hv.settle();
      }
      await stillServes(h, r, 60);
      expect(stats.passes - before).toBe(103);
      expect(stats.spurious).toBe(99);
      await check();
      await r.finish();
    } finally {
      await t.finish();
    }
  });

  it("XSA-349: the frontend's state rewritten 10^5 times leaves blkback Connected with at most one pending run per watch", async () => {
    await withHost(async (h) => {
      const { r, check } = await hostile(h);
      const bus = r.served.bus;
      const before = { ...bus.stats };
      const w = h.openXenstore();
      for (let i = 0; i < 100_000; i++) {
        w.write(`/local/domain/${r.dom.domid}/device/vbd/51712/state`, "4");
        await Promise.resolve();
      }
      w.conn.close();
      await h.hv.settle();
      expect(bus.stats.events - before.events).toBe(100_000);
      expect(bus.stats.maxBacklog).toBe(1);
      expect(r.served.device(r.dom.domid, 51712)!.state).toBe(S.XenbusStateConnected);
      await stillServes(h, r, 70);
      await check();
      await r.finish();
    });
  }, 30_000);

  it("XSA-350: connect and disconnect toggled 50 times leave no mapping, port or crash, and the last connection serves", async () => {
    await withHost(async (h) => {
      const { r, mem } = await hostile(h);
      const mapper = r.served.device(r.dom.domid, 51712)!.env.mapper;
      let front = r.front;
      const fe = `/local/domain/${r.dom.domid}/device/vbd/51712/state`;
      for (let i = 0; i < 50; i++) {
        // The frontend closes (and frees its ring), blkback disconnects; then it starts over.
        for (const q of front.queues) q.channel.close();
        for (const g of front.ringGrants) g.end();
        await h.until(
          front.ctx.xenbus.write(fe, String(S.XenbusStateClosed)),
          "the frontend closing",
        );
        await r.backendState(S.XenbusStateClosed);
        expect(mapper.mapped).toBe(0);
        front.grants.retryDeferred();
        await h.until(
          front.ctx.xenbus.write(fe, String(S.XenbusStateInitialising)),
          "the frontend starting over",
        );
        await r.backendState(S.XenbusStateInitWait);
        front = new RawFront(front.ctx, front.dir, front.backend);
        // (The scripted frontend drops its old ring keys itself; blkfront does: dropStaleTransportKeys.)
        const dir = front.dir;
        await h.until(
          front.ctx.xenbus.transaction(async (tx) => {
            for (const k of [
              "ring-page-order",
              "ring-ref",
              "ring-ref0",
              "ring-ref1",
              "ring-ref2",
              "ring-ref3",
            ])
              if (await tx.exists(`${dir}/${k}`)) await tx.rm(`${dir}/${k}`);
          }),
          "the old ring keys removed",
        );
        // Every other round, disconnect again before blkback has connected.
        await h.until(
          front.publish({ persistent: false, order: i % 3 }),
          "the frontend publishing",
        );
        if (i % 2 === 1) await r.backendState(S.XenbusStateConnected);
      }
      await r.backendState(S.XenbusStateConnected);
      expect(mapper.mapped).toBe(2); // the last ring: order 49 % 3 = 1, two pages
      Object.assign(r, { front });
      await stillServes(h, r, 80);
      const b = new Uint8Array(4096);
      await mem.read(0, b);
      expect(same(b, pattern(4096, 55))).toBe(true);
      // The 25 rounds that closed before blkback connected: its connect hook found the ring's
      // grant ended, failed, and was reported to its bus (the device went Closing, then Closed).
      const failed = r.served.bus.errors.splice(0).map(String);
      expect(failed).toEqual(
        Array(25).fill(
          "BlkbackConnectError: mapping ring-ref port 3: GNTTABOP_map_grant_ref[0] failed: GNTST_general_error (-1)",
        ),
      );
      await r.finish();
    });
  }, 30_000);

  it("XSA-362/365: a map failure of segment 0 of a 12-segment request is an error, with no I/O and no mapping left", async () => {
    await withHost(async (h) => {
      const { r, mem, check } = await hostile(h);
      const writes = mem.stats.writes;
      const pages = [...Array(12)].map((_, i) => r.front.page((p) => p.fill(i + 1)));
      const segs = pages.map((g) => whole(g));
      segs[0] = { gref: 4000, first_sect: 0, last_sect: 7 }; // never granted
      const ind = r.front.indirectPages(segs);
      const rsp = await h.until(
        r.front.submit({
          kind: "indirect",
          operation: 6,
          indirect_op: 1,
          nr_segments: 12,
          handle: 0,
          id: 90,
          sector_number: 0,
          indirect_grefs: [ind[0]!.ref],
        }),
        "the response",
      );
      expect(rsp).toEqual({ id: 90, operation: 1, status: -1 });
      expect(mem.stats.writes).toBe(writes);
      expect(r.served.device(r.dom.domid, 51712)!.env.mapper.mapped).toBe(1); // only the ring page
      await check();
      await stillServes(h, r, 91);
      await r.finish();
    });
  });
});
