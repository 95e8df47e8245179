// The framework over a device's life: hot-plug and hot-unplug while another device runs, a
// reconnect after the frontend goes back to Initialising, a backend in a driver domain, and
// destroyDomain of a connected device in both scheduler modes.
import { describe, expect, it } from "vitest";
import { attachDevice, detachDevice } from "@pvkit/toolstack";
import { useHost } from "@pvkit/toolstack/testing";
import {
  type Log,
  S,
  TYPE,
  dom0Bus,
  guestBus,
  readNode,
  tdevBack,
  tdevFront,
  tdevGuest,
  tdevPair,
  teardown,
} from "./helpers.js";

describe("xenbus driver framework: device lifecycle", () => {
  const host = useHost();

  it("hot-plugs a second device and hot-unplugs the first while the second stays connected", async () => {
    const h = host();
    const { log, d0, back, dom, bus, reg } = await tdevPair(h);
    await h.until(reg.connected(0), "device 0 connecting");
    attachDevice(h, dom.domid, { kind: TYPE, devid: 1 });
    const fe1 = await h.until(reg.connected(1), "the hot-plugged device 1 connecting");
    const removal = await h.until(
      detachDevice(h, dom.domid, TYPE, 0),
      "the hot-unplug of device 0",
    );
    expect(removal.outcome).toBe("closed");
    expect(removal.waitedNs).toBe(0);
    await h.hv.settle(); // the guest sees its directory go
    expect(log).toContain("fe:disconnect 0");
    expect(log).toContain(`be:disconnect ${dom.domid}/0`);
    expect(reg.devices.map((d) => d.devid)).toEqual([1]);
    expect(back.devices.map((d) => d.devid)).toEqual([1]);
    expect(fe1.state).toBe(S.XenbusStateConnected);
    expect(fe1.resources).toHaveLength(2);
    expect(readNode(h, `/local/domain/${dom.domid}/device/${TYPE}/0`)).toBeUndefined();
    await teardown(h, [bus, d0.bus], [d0.close]);
  });

  it("reconnects after the backend's xenbus_dev_fatal closed the device and the frontend went back to Initialising", async () => {
    const h = host();
    const { log, d0, back, dom, bus, reg } = await tdevPair(h);
    await h.until(reg.connected(0), "the first connect");
    const be = back.device(0, dom.domid)!;
    await h.until(be.fatal("EIO", "backend gave up"), "the backend's fatal error");
    expect(readNode(h, `/local/domain/0/error/backend/${TYPE}/${dom.domid}/0/error`)).toBe(
      "5 backend gave up",
    );
    await h.until(back.waitFor(0, S.XenbusStateClosed, dom.domid), "the backend closing");
    const fe = reg.device(0)!;
    expect(fe.state).toBe(S.XenbusStateClosed);
    expect(fe.resources).toEqual([]);
    await h.until(reg.reconnect(0), "the reconnect");
    await h.until(reg.connected(0), "the second connect");
    await h.until(back.connected(0, dom.domid), "the backend connected again");
    expect(
      log.filter((l) => l.startsWith("fe:initialise") || l.startsWith("be:connect")).length,
    ).toBe(4);
    expect(readNode(h, `/local/domain/${dom.domid}/device/${TYPE}/0/state`)).toBe("4");
    await teardown(h, [bus, d0.bus], [d0.close]);
  });

  it("serves a frontend from a backend in an unprivileged driver domain", async () => {
    const h = host();
    const log: Log = [];
    const g = guestBus();
    const dd = await h.createDomain({ name: "driver-domain", main: g.main });
    const ddBus = await h.until(g.bus, "the driver domain's bus");
    const back = ddBus.registerBackend(tdevBack(log));
    const { dom, bus, reg } = await tdevGuest(h, log, { backend: dd.domid });
    await h.until(reg.connected(0), "the frontend connecting to the driver domain");
    const be = await h.until(
      back.connected(0, dom.domid),
      "the driver domain's backend connecting",
    );
    expect(be.env.domid).toBe(dd.domid);
    expect(readNode(h, `/local/domain/${dd.domid}/backend/${TYPE}/${dom.domid}/0/state`)).toBe("4");
    const report = await h.until(h.destroyDomain(dom.domid), "destroying the frontend's domain");
    expect(report.devices.find((d) => d.kind === TYPE)?.outcome).toBe("closed");
    await teardown(h, [ddBus]);
    void bus;
  });

  for (const mode of ["auto", "manual"] as const) {
    describe(`in ${mode} mode`, () => {
      const h2 = useHost({ mode });
      it("destroyDomain of a connected device completes with outcome closed, not a timeout", async () => {
        const h = h2();
        const log: Log = [];
        const d0 = dom0Bus(h);
        d0.bus.registerBackend(tdevBack(log));
        const { dom, reg } = await tdevGuest(h, log, { front: tdevFront(log) });
        await h.until(reg.connected(0), "the connect");
        const t0 = h.hv.now;
        const report = await h.until(h.destroyDomain(dom.domid), "destroyDomain");
        const dev = report.devices.find((d) => d.kind === TYPE)!;
        expect(dev.outcome).toBe("closed");
        expect(dev.lastBackendState).toBe("6");
        expect(report.timedOut).toEqual([]);
        expect(h.hv.now - t0).toBe(0);
        await teardown(h, [d0.bus], [d0.close]);
      });
    });
  }
});
