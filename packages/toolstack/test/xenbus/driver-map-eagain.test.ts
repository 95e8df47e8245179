// XenbusDevice.mapRing retries a ring map Xen answers GNTST_eagain, as Linux's
// xenbus_map_ring_valloc does through gnttab_batch_map → gnttab_retry_eagain_gop: it sleeps
// 1, 2, 3, … ms (virtual time) between tries and gives up after 255 tries (32.64 s) with
// GNTST_bad_page. The faults count dom0's maps of d1's grants: the first two are the domain
// build's (xenstored's store ring, xenconsoled's console ring), the third the tdev ring's.
import { describe, expect, it } from "vitest";
import { createTestHost } from "@pvkit/toolstack/testing";
import { S, tdevPair, teardown } from "./helpers.js";

/** A host where the tdev backend's first `n` tries to map d1's ring fail with GNTST_eagain. */
async function eagainHost(n: number) {
  return createTestHost({
    faults: {
      grantMapFailure: {
        nth: Array.from({ length: n }, (_, i) => i + 3),
        status: "GNTST_eagain",
        mapper: 0,
        granter: 1,
      },
    },
  });
}

describe("mapRing and GNTST_eagain", () => {
  it("retries the ring map after 1 ms, then 2 ms, and connects on the third try", async () => {
    const t = await eagainHost(2);
    const h = t.host;
    const { log, d0, back, dom, bus, reg } = await tdevPair(h);
    await h.until(back.waitFor(0, S.XenbusStateConnected, dom.domid), "the backend connecting");
    await h.until(reg.waitFor(0, S.XenbusStateConnected), "the frontend connecting");
    expect(t.faults.injected).toMatchObject({ grantMap: 2, grantMapsSeen: 5 });
    expect(h.hv.scheduler.now).toBe(3_000_000); // 1 ms + 2 ms of sleep, nothing else waited
    expect(log.filter((l) => l.startsWith("be:connect"))).toEqual([
      "be:connect 1/0 order=0 magic=feed protocol=x86_64-abi",
    ]);
    expect(d0.bus.errors).toEqual([]);
    await teardown(h, [bus, d0.bus], [d0.close]);
    await t.finish();
  });

  it("gives up after 255 tries and 32.64 s with GNTST_bad_page, reported, and both ends close", async () => {
    const t = await eagainHost(1000);
    const h = t.host;
    const { d0, back, dom, bus, reg } = await tdevPair(h);
    const be = await h.until(
      back.waitFor(0, S.XenbusStateClosed, dom.domid),
      "the backend giving up",
    );
    await h.until(reg.waitFor(0, S.XenbusStateClosed), "the frontend closing");
    expect(t.faults.injected).toMatchObject({ grantMap: 255, grantMapsSeen: 257 });
    expect(h.hv.scheduler.now).toBe(32_640_000_000); // exactly the sum of the 1..255 ms retry sleeps
    expect(d0.bus.errors.map(String)).toEqual([
      "GrantStatusError: GNTTABOP_map_grant_ref[0] failed: GNTST_bad_page (-9): still GNTST_eagain after 255 tries",
    ]);
    expect(be.lastError).toBe(
      "5 connect: GNTTABOP_map_grant_ref[0] failed: GNTST_bad_page (-9): still GNTST_eagain after 255 tries",
    );
    // A test waiting on the device now learns why it never connected from the stall report.
    const stall = await h
      .until(new Promise<never>(() => undefined), "a connection")
      .catch((e: unknown) => e as Error);
    expect(stall.message.split("\n").filter((l) => l.includes("last error"))).toEqual([
      '  d0 (Domain-0) backend/tdev/1/0: last error "5 connect: GNTTABOP_map_grant_ref[0] failed: GNTST_bad_page (-9): still GNTST_eagain after 255 tries"',
    ]);
    await teardown(h, [bus, d0.bus], [d0.close], { allowErrors: true });
    await t.finish();
  });
});
