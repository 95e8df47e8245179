// Review probes of the framework's walks: unregister of a device that never left Initialising,
// unregister racing the probe, a frontend domain dying during the backend's connect hook.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { type DriverRegistration, XenbusBus, type XenbusTransport, driverEnv } from "@pvkit/guest-sdk";
import { type Log, S, TYPE, type TdevState, dom0Bus, readNode, tdevBack, tdevFront, tdevGuest, teardown } from "./helpers.js";

describe("xenbus driver framework: review probes", () => {
  const host = useHost();

  it("unregisters a frontend still Initialising at once, without waiting for a backend it never talked to", async () => {
    const h = host();
    const log: Log = [];
    const { dom, bus, reg } = await tdevGuest(h, log); // no backend driver anywhere
    await h.hv.settle();
    const fe = reg.device(0)!;
    expect(fe.state).toBe(S.XenbusStateInitialising);
    const t0 = h.hv.now;
    await h.until(reg.unregister(), "unregistering the frontend");
    expect(bus.errors).toEqual([]);
    expect(h.hv.now - t0).toBe(0);
    expect(fe.state).toBe(S.XenbusStateClosed);
    expect(readNode(h, `/local/domain/${dom.domid}/device/${TYPE}/0/state`)).toBe("6");
    await teardown(h, [bus]);
  });

  it("does not probe a device whose scan was under way when its driver unregistered", async () => {
    const h = host();
    const log: Log = [];
    const d0 = dom0Bus(h);
    d0.bus.registerBackend(tdevBack(log));
    let reg: DriverRegistration<TdevState> | undefined;
    let unregistering: Promise<void> | undefined;
    let resolveBus!: (b: XenbusBus) => void;
    const busP = new Promise<XenbusBus>((r) => (resolveBus = r));
    const dom = await h.createDomain({
      name: "front",
      devices: [{ kind: TYPE, devid: 0, backend: 0 }],
      main: (ctx) => {
        // The driver unregisters while the bus reads the new device's backend-id.
        const xs = new Proxy(ctx.xenbus, {
          get(t, k, r) {
            const v = Reflect.get(t, k, r) as unknown;
            if (k !== "read" || typeof v !== "function") return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
            return (path: string) => {
              if (path.endsWith(`device/${TYPE}/0/backend-id`) && unregistering === undefined && reg !== undefined) unregistering = reg.unregister();
              return (v as (p: string) => Promise<string>).call(t, path);
            };
          },
        }) as XenbusTransport;
        resolveBus(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs })));
      },
    });
    const bus = await h.until(busP, "the guest's bus");
    reg = bus.registerFrontend(tdevFront(log));
    await h.hv.settle();
    expect(unregistering).toBeDefined();
    await h.until(unregistering!, "the unregister");
    await h.hv.settle();
    expect(reg.devices).toEqual([]);
    expect(log).toEqual([`be:probe ${dom.domid}/0`]);
    expect(readNode(h, `/local/domain/${dom.domid}/device/${TYPE}/0/state`)).toBe("1");
    expect(bus.errors).toEqual([]);
    // A driver registered again finds the device untouched and connects it.
    const again = bus.registerFrontend(tdevFront(log));
    await h.until(again.connected(0), "the device connecting under the new registration");
    expect(log).toEqual([`be:probe ${dom.domid}/0`, "fe:initialise 0", expect.stringMatching(/^be:connect /), "fe:connect 0 feature-x=7"]);
    await teardown(h, [bus, d0.bus], [d0.close]);
  });
});
