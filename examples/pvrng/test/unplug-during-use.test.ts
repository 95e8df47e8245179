// Hot-unplug while requests are in flight: the frontend's pending reads fail with the status its
// disconnect hook gives them, the toolstack's removal ends `closed`, and no domain keeps anything.
import { expect, it } from "vitest";
import { BackRing, type BackendDriver } from "@pvkit/guest-sdk";
import { detachDevice } from "@pvkit/toolstack";
import { assertNoGuestLeaks, withHost } from "@pvkit/toolstack/testing";
import { type BackState, TYPE, pvrngFront, read, rngSpec } from "@pvkit/example-pvrng";
import { connectPvrng } from "./connect.js";

/** A backend that takes requests off the ring but never answers them (a slow device). */
const slowBack: BackendDriver<BackState> = {
  type: TYPE,
  async connect(dev) {
    const mapped = await dev.mapRing();
    const ring = BackRing.attach(mapped.pages, rngSpec, 0, { name: "pvrng ring" });
    const channel = await dev.bindEvtchn({
      onEvent: () => {
        while (ring.consumeRequest() !== undefined) taken++;
      },
    });
    dev.data = { ring, channel };
  },
};
let taken = 0;

it("fails reads in flight and ends closed when the device is unplugged during use", async () => {
  await withHost(async (h) => {
    const { xs, bus0, dom, bus, dev } = await connectPvrng(h, pvrngFront, slowBack);
    const reads = [read(dev, 16), read(dev, 32), read(dev, 64)].map((p) =>
      p.then(
        () => "ok",
        (e: Error) => e.message,
      ),
    );
    await h.hv.settle();
    expect(taken).toBe(3);
    const removal = await h.until(
      detachDevice(h, dom.domid, TYPE, 0),
      "unplugging pvrng during use",
    );
    expect([removal.outcome, removal.waitedNs]).toEqual(["closed", 0]);
    expect(await h.until(Promise.all(reads), "the reads in flight")).toEqual([
      "pvrng: backend answered status -5",
      "pvrng: backend answered status -5",
      "pvrng: backend answered status -5",
    ]);
    await h.until(bus.close(), "the frontend bus unregistering");
    await h.until(bus0.close(), "the backend bus unregistering");
    await h.hv.settle();
    assertNoGuestLeaks(h);
    xs.close();
    expect([...bus.errors, ...bus0.errors]).toEqual([]);
  });
});
