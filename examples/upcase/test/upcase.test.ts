// upcase end to end: a domU frontend, a dom0 backend, under the sanitizer and the leak checks
// of withHost (a finding or a leak fails the test with its message).
import { describe, expect, it } from "vitest";
import { detachDevice } from "@pvkit/toolstack";
import { assertNoGuestLeaks, withHost } from "@pvkit/toolstack/testing";
import { TYPE, shout } from "@pvkit/example-upcase";
import { connectUpcase } from "./harness.js";

describe("upcase", () => {
  it("upper-cases ASCII letters and leaves every other byte as it was", async () => {
    await withHost(async (h) => {
      const c = await connectUpcase(h);
      expect(await h.until(shout(c.dev, "hello, xen 4.17! ça va?"), "a shout")).toBe("HELLO, XEN 4.17! çA VA?");
      await c.close();
    });
  });

  it("answers two shouts one after the other", async () => {
    await withHost(async (h) => {
      const c = await connectUpcase(h);
      expect(await h.until(shout(c.dev, "one"), "the first shout")).toBe("ONE");
      expect(await h.until(shout(c.dev, "two"), "the second shout")).toBe("TWO"); // after the backend went idle
      await c.close();
    });
  });

  it("answers 200 requests in flight at once, each with its own text", async () => {
    await withHost(async (h) => {
      const c = await connectUpcase(h);
      const texts = Array.from({ length: 200 }, (_, i) => `request ${i}`);
      const answers = await h.until(Promise.all(texts.map((t) => shout(c.dev, t))), "200 shouts");
      expect(answers).toEqual(texts.map((t) => t.toUpperCase()));
      await c.close();
    });
  });

  it("refuses empty text and text over 4096 bytes before touching the ring", async () => {
    await withHost(async (h) => {
      const c = await connectUpcase(h);
      await expect(shout(c.dev, "")).rejects.toThrow("text of 1..4096 bytes, not 0");
      await expect(shout(c.dev, "é".repeat(2049))).rejects.toThrow("text of 1..4096 bytes, not 4098");
      expect(c.dev.data!.ring.reqProdPvt).toBe(0);
      await c.close();
    });
  });

  it("unplugs cleanly: the backend reaches Closed and no domain keeps a grant, port or watch", async () => {
    await withHost(async (h) => {
      const c = await connectUpcase(h);
      expect(await h.until(shout(c.dev, "bye"), "a shout")).toBe("BYE");
      const removal = await h.until(detachDevice(h, c.domid, TYPE, 0), "unplugging upcase");
      expect(removal.outcome).toBe("closed");
      await c.close();
      await h.hv.settle();
      assertNoGuestLeaks(h); // the frontend's ring grant, data grants and port; dom0's mappings
      expect(c.errors()).toEqual([]);
    });
  });
});
