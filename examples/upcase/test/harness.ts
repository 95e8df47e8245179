// Boots the upcase device on a test host: the backend on dom0's bus, a domU whose frontend
// connects to it. Every test of the example starts here.
import { type BackendDriver, type FrontendDriver, XenbusBus, type XenbusDevice, driverEnv } from "@pvkit/guest-sdk";
import { type Host, LocalXenbusTransport } from "@pvkit/toolstack";
import { type BackState, type FrontState, TYPE, upcaseBack, upcaseFront } from "@pvkit/example-upcase";

export interface Connected {
  readonly domid: number;
  readonly dev: XenbusDevice<FrontState>;
  /** Unregisters both drivers (the frontend's bus, then dom0's) and closes dom0's xenstore connection. */
  close(): Promise<void>;
  /** What either bus reported (a driver hook that threw, a fatal device). */
  errors(): unknown[];
}

export async function connectUpcase(h: Host, back: BackendDriver<BackState> = upcaseBack, front: FrontendDriver<FrontState> = upcaseFront): Promise<Connected> {
  const xs = LocalXenbusTransport.open(h); // dom0's xenstore connection
  const bus0 = new XenbusBus(driverEnv({ guest: h.dom0.guest, events: h.dom0.events, xs }));
  bus0.registerBackend(back);
  let started!: (b: XenbusBus) => void;
  const guestBus = new Promise<XenbusBus>((r) => (started = r));
  const dom = await h.createDomain({
    name: "shouter",
    devices: [{ kind: TYPE, devid: 0 }], // the toolstack writes both ends' xenstore directories
    main: (ctx) => started(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
  });
  const bus = await h.until(guestBus, "the guest's bus");
  const dev = await h.until(bus.registerFrontend(front).connected(0), "upcase connecting");
  return {
    domid: dom.domid,
    dev,
    async close() {
      await h.until(bus.close(), "the frontend's bus closing");
      await h.until(bus0.close(), "the backend's bus closing");
      xs.close();
    },
    errors: () => [...bus.errors, ...bus0.errors],
  };
}
