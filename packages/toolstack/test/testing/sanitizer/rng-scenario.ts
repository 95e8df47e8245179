// The scenario every sanitizer test runs: the test RNG driver connected, read, unplugged.
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { type Host, LocalXenbusTransport, detachDevice } from "@pvkit/toolstack";
import {
  type BackBugs,
  type FrontBugs,
  TYPE,
  read,
  rngBack,
  rngFront,
  rngSpec,
} from "./rng-drivers.js";

/** Test code run outside the host at two points of the scenario (the host stalls meanwhile). */
export interface Pauses {
  afterBurst?: (h: Host) => Promise<void>;
  afterReads?: (h: Host) => Promise<void>;
}

export /** Connect; a burst of 6 reads, then one of 300 bytes; unplug; unregister both buses. */
async function scenario(
  h: Host,
  fb: FrontBugs = {},
  bb: BackBugs = {},
  spec = rngSpec,
  pause: Pauses = {},
): Promise<void> {
  const xs = LocalXenbusTransport.open(h);
  const bus0 = new XenbusBus(driverEnv({ guest: h.dom0.guest, events: h.dom0.events, xs }));
  bus0.registerBackend(rngBack(bb, spec));
  let started!: (b: XenbusBus) => void;
  const guestBus = new Promise<XenbusBus>((r) => (started = r));
  const dom = await h.createDomain({
    name: "rng-user",
    devices: [{ kind: TYPE, devid: 0 }],
    main: (ctx) =>
      started(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
  });
  const bus = await h.until(guestBus, "the guest's bus");
  const dev = await h.until(
    bus.registerFrontend(rngFront(fb, spec)).connected(0),
    "rng connecting",
  );
  await h.until(Promise.all([...Array(6)].map(() => read(dev, 16))), "a burst of reads");
  await pause.afterBurst?.(h);
  await h.until(read(dev, 300), "a read of 300 bytes");
  await pause.afterReads?.(h);
  await h.until(detachDevice(h, dom.domid, TYPE, 0), "unplugging rng");
  await h.until(bus.close(), "the frontend bus unregistering");
  await h.until(bus0.close(), "the backend bus unregistering");
  await h.hv.settle();
  xs.close();
}
