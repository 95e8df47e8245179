// Notifications per request through the real pair at QD32 on a 32-slot ring: each end notifies
// once per 32-request batch with blkback's poll off (RING_FINAL_CHECK_FOR_REQUESTS at the end of
// every pass), and only blkback notifies with it on (its yield-and-look-again finds the
// frontend's next batch before req_event is re-armed, so blkfront's push need not notify). The
// data is checked either way.
import { describe, expect, it } from "vitest";
import { withHost } from "@pvkit/toolstack/testing";
import { MemoryStorage } from "@pvkit/split-drivers";
import { XVDA, connectedPair, pattern, same, teardownPair } from "./pair.js";

async function run(poll: boolean): Promise<{ front: number; back: number; polls: number }> {
  return withHost(async (h) => {
    const storage = new MemoryStorage({ bytes: 1 << 20 });
    const data = pattern(1 << 20, 77);
    await storage.write(0, data);
    const p = await connectedPair(h, {
      storage,
      back: { poll },
      front: { maxRingPageOrder: 0, maxQueues: 1 },
    });
    const q = p.disk.queues[0]!;
    const bq = p.served.device(p.dom.domid, XVDA)!.data!.queues[0]!;
    const [f0, b0] = [q.stats.notifications, bq.stats.notifications];
    // 32 programs, each reading 10 blocks one after another (320 requests in batches of 32).
    const bufs = Array.from({ length: 32 }, () => new Uint8Array(4096));
    await p.until(
      Promise.all(
        bufs.map(async (buf, w) => {
          for (let k = 0; k < 10; k++) {
            const blk = (w * 10 + k) % 256;
            await p.disk.readSectorsInto(blk * 8, buf);
            expect(same(buf, data.subarray(blk * 4096, (blk + 1) * 4096))).toBe(true);
          }
        }),
      ),
      "320 reads",
    );
    const r = {
      front: q.stats.notifications - f0,
      back: bq.stats.notifications - b0,
      polls: bq.stats.polls,
    };
    await teardownPair(p);
    return r;
  });
}

describe("blk e2e: notifications per request at QD32", () => {
  it("are one each way per batch with blkback's poll off", async () => {
    expect(await run(false)).toEqual({ front: 10, back: 10, polls: 0 });
  });
  it("are one per batch, blkback's only, with its poll on", async () => {
    const r = await run(true);
    expect({ front: r.front, back: r.back }).toEqual({ front: 1, back: 10 });
    expect(r.polls).toMatchInlineSnapshot(`10`);
  });
});
