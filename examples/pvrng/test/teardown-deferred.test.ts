// A test that ends right after an unplug: the frontend released its ring grant while the backend
// still mapped it (Closing comes before the backend's unmap), so the grant end is deferred and
// the framework's one-second retry ends it. The test host lets that retry run before its
// teardown checks: a correct driver is not reported for a grant about to end.
import { expect, it } from "vitest";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { LocalXenbusTransport, detachDevice } from "@pvkit/toolstack";
import { withHost } from "@pvkit/toolstack/testing";
import { pvrngBack, pvrngFront, read } from "@pvkit/example-pvrng";

it("ends a deferred ring grant at teardown instead of reporting it (a test that stops right after the unplug)", async () => {
  let deferredAtEnd = -1;
  await withHost(async (h) => {
    const xs = LocalXenbusTransport.open(h);
    const bus0 = new XenbusBus(driverEnv({ guest: h.dom0.guest, events: h.dom0.events, xs }));
    bus0.registerBackend(pvrngBack(42));
    let started!: (b: XenbusBus) => void;
    const guestBus = new Promise<XenbusBus>((r) => (started = r));
    const dom = await h.createDomain({
      name: "rng-user",
      devices: [{ kind: "pvrng", devid: 0 }],
      main: (ctx) =>
        started(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
    });
    const bus = await h.until(guestBus);
    const dev = await h.until(bus.registerFrontend(pvrngFront).connected(0), "pvrng connecting");
    await h.until(read(dev, 8));
    expect((await h.until(detachDevice(h, dom.domid, "pvrng", 0))).outcome).toBe("closed");
    await h.until(bus0.close());
    xs.close();
    expect(h.hv.now).toBe(0);
    deferredAtEnd = dev.env.grants.deferred;
  });
  // The case this test is about really happened: the ring grant's end was still deferred.
  expect(deferredAtEnd).toBe(1);
});
