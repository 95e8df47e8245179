// The set-up every pvrng test starts from: a backend bus in dom0, a guest "rng-user" with
// device/pvrng/0 and its own bus, and the frontend connected.
import {
  type BackendDriver,
  type FrontendDriver,
  XenbusBus,
  type XenbusDevice,
  driverEnv,
} from "@pvkit/guest-sdk";
import { type DomainHandle, type Host, LocalXenbusTransport } from "@pvkit/toolstack";
import { type BackState, type FrontState, TYPE } from "@pvkit/example-pvrng";

export interface ConnectedPvrng {
  readonly xs: LocalXenbusTransport;
  /** dom0's bus, with `back` registered. */
  readonly bus0: XenbusBus;
  readonly dom: DomainHandle;
  /** The guest's bus, with `front` registered. */
  readonly bus: XenbusBus;
  readonly dev: XenbusDevice<FrontState>;
}

export async function connectPvrng(
  h: Host,
  front: FrontendDriver<FrontState>,
  back: BackendDriver<BackState>,
): Promise<ConnectedPvrng> {
  const xs = LocalXenbusTransport.open(h);
  const bus0 = new XenbusBus(driverEnv({ guest: h.dom0.guest, events: h.dom0.events, xs }));
  bus0.registerBackend(back);
  let started!: (b: XenbusBus) => void;
  const guestBus = new Promise<XenbusBus>((r) => (started = r));
  const dom = await h.createDomain({
    name: "rng-user",
    devices: [{ kind: TYPE, devid: 0 }],
    main: (ctx) =>
      started(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
  });
  const bus = await h.until(guestBus, "the guest's bus");
  const dev = await h.until(bus.registerFrontend(front).connected(0), "pvrng connecting");
  return { xs, bus0, dom, bus, dev };
}
