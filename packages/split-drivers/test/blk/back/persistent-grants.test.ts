// Persistent grants through blkback: the cache is bounded at Linux's 1056 per ring, overflow is
// mapped per request, and the LRU purge drops 5% of the least recently used idle grants.
import { describe, expect, it } from "vitest";
import { withHost } from "@pvkit/toolstack/testing";
import { MemoryStorage } from "@pvkit/split-drivers";
import { S, rig, rw, whole } from "./raw-front.js";

describe("blkback persistent grants", () => {
  it("keeps at most 1056 grants mapped, maps the overflow per request, and purges the 50 least recently used after 100 ms", async () => {
    await withHost(async (h) => {
      const disk = new MemoryStorage({ bytes: 64 << 20 });
      const r = await rig(h, { storage: () => disk, fo: { persistent: true }, memory: 32 });
      await r.backendState(S.XenbusStateConnected);
      const dev = r.served.device(r.dom.domid, 51712)!;
      const pg = (): number => dev.env.mapper.mapped - 1; // live mappings but the ring page
      const pages: ReturnType<typeof r.front.page>[] = [];
      for (let batch = 0; batch < 3; batch++) {
        const reqs = [];
        for (let j = 0; j < 32; j++) {
          const seg = [...Array(11)].map(() => r.front.page());
          pages.push(...seg);
          const n = batch * 32 + j;
          reqs.push(
            r.front.submit(
              rw(
                1,
                n + 1,
                n * 88,
                seg.map((g) => whole(g)),
              ),
            ),
          );
        }
        const rsps = await h.until(Promise.all(reqs), `batch ${batch}`);
        expect(rsps.every((x) => x.status === 0)).toBe(true);
      }
      expect(pages.length).toBe(1056);
      expect(pg()).toBe(1056);
      // 11 more refs: the cache is full, so they are mapped for the request only.
      const extra = [...Array(11)].map(() => r.front.page());
      expect(
        (
          await h.until(
            r.front.submit(
              rw(
                1,
                500,
                0,
                extra.map((g) => whole(g)),
              ),
            ),
            "overflow",
          )
        ).status,
      ).toBe(0);
      expect(pg()).toBe(1056);
      // 100 ms later the next pass purges 1056 - 1056 + 5% of 1056 (50) idle grants, LRU first.
      await h.until(new Promise<void>((res) => dev.env.timers.after(150_000_000, res)), "100 ms");
      const last = pages[pages.length - 1]!;
      expect(
        (await h.until(r.front.submit(rw(0, 501, 0, [whole(last)])), "after the interval")).status,
      ).toBe(0);
      expect(pg()).toBe(1006);
      // The oldest ones went: reusing page 0 maps it again (as a new persistent grant).
      expect(
        (await h.until(r.front.submit(rw(0, 502, 0, [whole(pages[0]!)])), "reuse")).status,
      ).toBe(0);
      expect(pg()).toBe(1007);
      await r.finish();
    });
  });
});
