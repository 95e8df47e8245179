// The bus handles each watch event for the one device its path names, as Linux's
// xenbus_dev_changed does (xenbus_probe.c), instead of listing the whole directory again: the
// requests a backend bus makes for a new device do not grow with the devices it already has, a
// removal touches only the device removed, and a flood of events on many device paths keeps the
// XSA-349 bound (one pending run, at most maxPendingDevices keys, then one full pass).
import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import {
  type BackendDriver,
  EventChannels,
  XenbusBus,
  type XenbusBusOptions,
  driverEnv,
} from "@pvkit/guest-sdk";
import { MemXenstore } from "./mem-xenstore.js";

const S = XenbusState;
const TYPE = "tdev";

/** A backend driver that only counts its probes (no keys, no ring). */
function countingBack(probes: string[]): BackendDriver {
  return {
    type: TYPE,
    probe(dev) {
      probes.push(`${dev.otherendId}/${dev.devid}`);
    },
    connect() {},
  };
}

/** dom0 with a backend bus for tdev over an in-memory xenstore. */
async function backendHost(opts: XenbusBusOptions = {}) {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain({ name: "dom0" });
  const g0 = hv.guest(0);
  const xs = new MemXenstore(0);
  const bus = new XenbusBus(driverEnv({ guest: g0, events: EventChannels.of(g0), xs }), opts);
  const probes: string[] = [];
  const reg = bus.registerBackend(countingBack(probes));
  /** Lets every continuation run: event-loop turns until the bus asks nothing more. */
  const settle = async (): Promise<void> => {
    let quiet = 0;
    while (quiet < 3) {
      const n = xs.log.length;
      await hv.settle();
      await new Promise((r) => setImmediate(r));
      quiet = xs.log.length === n ? quiet + 1 : 0;
    }
  };
  await settle();
  /** libxl's device add: both directories in one transaction. */
  const add = (fe: number, devid = 0): void => {
    const be = `backend/${TYPE}/${fe}/${devid}`;
    const fp = `/local/domain/${fe}/device/${TYPE}/${devid}`;
    xs.putAll({
      [`${fp}/backend`]: `/local/domain/0/${be}`,
      [`${fp}/backend-id`]: "0",
      [`${fp}/state`]: String(S.XenbusStateInitialising),
      [`${be}/frontend`]: fp,
      [`${be}/frontend-id`]: String(fe),
      [`${be}/online`]: "1",
      [`${be}/state`]: String(S.XenbusStateInitialising),
    });
  };
  /** The requests the bus made while `fn` ran and the host settled. */
  const requests = async (fn: () => void): Promise<string[]> => {
    const from = xs.log.length;
    fn();
    await settle();
    expect(bus.errors).toEqual([]);
    return xs.log.slice(from);
  };
  return { hv, xs, bus, reg, probes, add, requests, settle };
}

describe("xenbus bus: events handled for the device they name (xenbus_dev_changed)", () => {
  it("makes the same 11 requests for the 1st and the 50th device added, one at a time", async () => {
    const h = await backendHost();
    const perDevice: string[][] = [];
    for (let fe = 1; fe <= 50; fe++) {
      perDevice.push(await h.requests(() => h.add(fe)));
      expect(h.reg.device(0, fe)?.state).toBe(S.XenbusStateInitWait);
    }
    const shape = (rs: string[], fe: number) => rs.map((r) => r.replaceAll(`/${fe}/`, "/N/"));
    expect(shape(perDevice[0]!, 1)).toEqual([
      // xenbus_probe_node: the device's state, then xenbus_read_otherend_details
      `READ backend/${TYPE}/N/0/state`,
      `READ backend/${TYPE}/N/0/frontend-id`,
      `READ backend/${TYPE}/N/0/frontend`,
      `EXISTS /local/domain/N/device/${TYPE}/0`,
      // the walk's probe: InitWait (xenbus_switch_state: state still there, then written)
      "TRANSACTION_START",
      `tx EXISTS backend/${TYPE}/N/0/state`,
      `tx WRITE backend/${TYPE}/N/0/state`,
      "TRANSACTION_END",
      // watch_otherend, and its initial event's read
      `WATCH /local/domain/N/device/${TYPE}/0/state`,
      `READ /local/domain/N/device/${TYPE}/0/state`,
      // the event of our own state write: the device is known and still has its state
      `EXISTS backend/${TYPE}/N/0/state`,
    ]);
    expect(perDevice[0]).toHaveLength(11);
    expect(perDevice[49]).toHaveLength(11);
    expect(shape(perDevice[49]!, 50)).toEqual(shape(perDevice[0]!, 1));
    expect(h.probes).toHaveLength(50);
    expect(h.bus.scanStats.fullScans).toBe(1); // the registration's (xenbus_probe_devices)
  });

  it("touches only the removed device's paths when its directory goes, and keeps the others", async () => {
    const h = await backendHost();
    for (const fe of [1, 2, 3]) await h.requests(() => h.add(fe));
    const gone = h.reg.device(0, 2)!;
    const rs = await h.requests(() => h.xs.remove(`backend/${TYPE}/2/0`));
    expect(rs).toEqual([
      `EXISTS backend/${TYPE}/2/0/state`,
      `UNWATCH /local/domain/2/device/${TYPE}/0/state`,
    ]);
    expect(gone.removed).toBe(true);
    expect(h.reg.devices.map((d) => d.otherendId)).toEqual([1, 3]);
  });

  it("removes a device whose state node alone is removed", async () => {
    const h = await backendHost();
    for (const fe of [1, 2]) await h.requests(() => h.add(fe));
    const rs = await h.requests(() => h.xs.remove(`backend/${TYPE}/1/0/state`));
    expect(rs).toEqual([
      `EXISTS backend/${TYPE}/1/0/state`,
      `UNWATCH /local/domain/1/device/${TYPE}/0/state`,
    ]);
    expect(h.reg.devices.map((d) => d.otherendId)).toEqual([2]);
  });

  it("removes every device under a frontend domain's directory when it goes (xenbus_cleanup_devices), ignores it while it exists", async () => {
    const h = await backendHost();
    await h.requests(() => h.add(4, 0));
    await h.requests(() => h.add(4, 1));
    await h.requests(() => h.add(5, 0));
    // backend/tdev/4 itself written: it names no device and is there, so nothing is asked of it.
    expect(await h.requests(() => h.xs.put(`backend/${TYPE}/4`, ""))).toEqual([
      `EXISTS backend/${TYPE}/4`,
    ]);
    const rs = await h.requests(() => h.xs.remove(`backend/${TYPE}/4`));
    expect(rs).toEqual([
      `EXISTS backend/${TYPE}/4`,
      `UNWATCH /local/domain/4/device/${TYPE}/0/state`,
      `UNWATCH /local/domain/4/device/${TYPE}/1/state`,
    ]);
    expect(h.reg.devices.map((d) => `${d.otherendId}/${d.devid}`)).toEqual(["5/0"]);
    // No request at all for a domain directory under which nothing is known.
    expect(await h.requests(() => h.xs.put(`backend/${TYPE}/9`, ""))).toEqual([]);
  });

  it("probes a device found not Initialising again once an event finds it Initialising (xenbus_probe_node)", async () => {
    const h = await backendHost();
    const be = `backend/${TYPE}/6/0`;
    h.add(6);
    h.xs.put(`${be}/state`, String(S.XenbusStateClosed));
    await h.settle();
    expect(h.reg.device(0, 6)).toBeUndefined();
    // Another key written while Closed: read again, still not new.
    expect(await h.requests(() => h.xs.put(`${be}/params`, "x"))).toEqual([`READ ${be}/state`]);
    expect(h.probes).toEqual([]);
    await h.requests(() => h.xs.put(`${be}/state`, String(S.XenbusStateInitialising)));
    expect(h.probes).toEqual(["6/0"]);
    expect(h.reg.device(0, 6)?.state).toBe(S.XenbusStateInitWait);
  });

  it("keeps one pending run and at most maxPendingDevices keys under a flood on many device paths, then one full pass", async () => {
    const h = await backendHost({ maxPendingDevices: 8 });
    await h.requests(() => h.add(1));
    const stats0 = { ...h.bus.scanStats };
    // 8 distinct devices named in one burst: 8 keys, no full pass.
    const eight = await h.requests(() => {
      for (let i = 0; i < 8; i++) h.xs.put(`backend/${TYPE}/7/${i}/junk`, "x");
    });
    expect(eight).toEqual(Array.from({ length: 8 }, (_, i) => `READ backend/${TYPE}/7/${i}/state`));
    expect(h.bus.scanStats.fullScans).toBe(stats0.fullScans);
    expect(h.bus.scanStats.maxPending).toBe(8);
    // 10 000 events on 1000 device paths in one burst: the keys stop at 8 and one full pass
    // covers them all (the directory listed once, each child probed once).
    const flood = await h.requests(() => {
      for (let r = 0; r < 10; r++)
        for (let i = 0; i < 1000; i++) h.xs.put(`backend/${TYPE}/8/${i}/junk`, String(r));
    });
    expect(h.bus.scanStats.fullScans).toBe(stats0.fullScans + 1);
    expect(h.bus.scanStats.maxPending).toBe(8);
    expect(h.bus.stats.maxBacklog).toBe(1);
    expect(flood.filter((r) => r === `DIRECTORY backend/${TYPE}`)).toHaveLength(1);
    expect(flood.filter((r) => r.startsWith(`READ backend/${TYPE}/8/`))).toHaveLength(1000);
    expect(new Set(flood).size).toBe(flood.length); // nothing asked twice
    // The device probed before the flood is untouched and still served.
    expect(h.reg.device(0, 1)?.state).toBe(S.XenbusStateInitWait);
    expect(h.probes).toEqual(["1/0"]);
  });

  it("refuses a maxPendingDevices that is not a positive integer", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain({ name: "dom0" });
    const g0 = hv.guest(0);
    const env = driverEnv({ guest: g0, events: EventChannels.of(g0), xs: new MemXenstore(0) });
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(() => new XenbusBus(env, { maxPendingDevices: bad })).toThrow(RangeError);
  });
});
