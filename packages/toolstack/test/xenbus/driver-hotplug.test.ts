// The backend's `hotplug-status` key: a backend with hotplugStatus "wait" connects only once the
// hotplug script (here: the test, as dom0's udev would) writes `connected`, and "error" there is
// fatal; "write" writes `connected` itself after probe, as a userspace backend does.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { type Log, S, TYPE, dom0Bus, readNode, tdevBack, tdevGuest, teardown } from "./helpers.js";

describe("xenbus driver framework: hotplug-status", () => {
  const host = useHost();

  it("waits for the hotplug script's connected before connecting a backend with hotplugStatus wait", async () => {
    const h = host();
    const log: Log = [];
    const d0 = dom0Bus(h);
    const back = d0.bus.registerBackend({ ...tdevBack(log), hotplugStatus: "wait" });
    const { dom, bus, reg } = await tdevGuest(h, log);
    const be = `/local/domain/0/backend/${TYPE}/${dom.domid}/0`;
    await h.until(reg.waitFor(0, S.XenbusStateInitialised), "the frontend publishing its ring");
    await h.hv.settle();
    expect(readNode(h, `${be}/state`)).toBe(String(S.XenbusStateInitWait));
    expect(log.filter((l) => l.startsWith("be:connect"))).toEqual([]);
    const xs = h.openXenstore();
    xs.write(`${be}/hotplug-status`, "connected");
    await h.until(back.connected(0, dom.domid), "the backend connecting after the hotplug script");
    await h.until(reg.connected(0), "the frontend connecting");
    expect(log.filter((l) => l.startsWith("be:connect"))).toHaveLength(1);
    xs.conn.close();
    await teardown(h, [bus, d0.bus], [d0.close]);
  });

  it("closes a backend with hotplugStatus wait when the hotplug script writes error", async () => {
    const h = host();
    const log: Log = [];
    const d0 = dom0Bus(h);
    const back = d0.bus.registerBackend({ ...tdevBack(log), hotplugStatus: "wait" });
    const { dom, bus, reg } = await tdevGuest(h, log);
    const be = `/local/domain/0/backend/${TYPE}/${dom.domid}/0`;
    await h.until(reg.waitFor(0, S.XenbusStateInitialised), "the frontend publishing its ring");
    const xs = h.openXenstore();
    xs.write(`${be}/hotplug-status`, "error");
    await h.until(back.waitFor(0, S.XenbusStateClosing, dom.domid), "the backend giving up");
    expect(readNode(h, `/local/domain/0/error/backend/${TYPE}/${dom.domid}/0/error`)).toBe(
      "5 hotplug script failed",
    );
    expect(log.filter((l) => l.startsWith("be:connect"))).toEqual([]);
    xs.conn.close();
    await teardown(h, [bus, d0.bus], [d0.close], { allowErrors: true });
  });

  it("writes hotplug-status connected after probe for a backend with hotplugStatus write", async () => {
    const h = host();
    const log: Log = [];
    const d0 = dom0Bus(h);
    d0.bus.registerBackend({ ...tdevBack(log), hotplugStatus: "write" });
    const { dom, bus, reg } = await tdevGuest(h, log);
    await h.until(reg.connected(0), "the frontend connecting");
    expect(readNode(h, `/local/domain/0/backend/${TYPE}/${dom.domid}/0/hotplug-status`)).toBe(
      "connected",
    );
    await teardown(h, [bus, d0.bus], [d0.close]);
  });
});
