// xenbus_switch_state (Linux xenbus_client.c: __xenbus_switch_state) as the framework does it:
// switching to the current state writes nothing, and a state write xenstored refuses is reported
// to the bus and made fatal (xenbus_switch_fatal: "writing new state", error node, Closing).
import { describe, expect, it } from "vitest";
import { XS } from "@pvkit/hypervisor-sim/abi";
import { XenbusBus, type XenbusDevice, driverEnv } from "@pvkit/guest-sdk";
import { useHost } from "@pvkit/toolstack/testing";
import {
  type Log,
  S,
  TYPE,
  dom0Bus,
  readNode,
  tdevBack,
  tdevFront,
  tdevPair,
  teardown,
} from "./helpers.js";

/** The xenstore requests `domid` sends while recording: type name, and the path for writes. */
function recordRequests(
  h: ReturnType<ReturnType<typeof useHost>>,
  domid: number,
): { log: string[]; stop(): void } {
  const log: string[] = [];
  const on = (
    conn: { kind: string; id: number },
    msg: { type: number; payload: Uint8Array },
    name: string,
  ): void => {
    if (conn.kind !== "domain" || conn.id !== domid) return;
    if (msg.type !== XS.XS_WRITE) return void log.push(name);
    const nul = msg.payload.indexOf(0);
    log.push(`${name} ${Buffer.from(msg.payload.subarray(0, nul)).toString()}`);
  };
  h.xenstored.on("request", on);
  return { log, stop: () => void h.xenstored.off("request", on) };
}

describe("xenbus driver framework: switching state", () => {
  const host = useHost();

  it("sends xenstored nothing when a connected frontend switches to Connected, the state it is in", async () => {
    const h = host();
    const { d0, back, dom, bus, reg } = await tdevPair(h);
    const fe = await h.until(reg.connected(0), "the connect");
    await h.until(back.connected(0, dom.domid), "the backend connected");
    const node = `/local/domain/${dom.domid}/device/${TYPE}/0/state`;
    await h.hv.settle(); // the connect's last watch events handled
    const rec = recordRequests(h, dom.domid);
    await h.until(fe.switchState(S.XenbusStateConnected), "the switch to Connected");
    await h.hv.settle();
    expect(rec.log).toEqual([]); // no transaction, no read, no write
    expect(readNode(h, node)).toBe(String(S.XenbusStateConnected));
    // The same recorder sees a real switch: one transaction writing the state node.
    await h.until(fe.switchState(S.XenbusStateClosing), "the switch to Closing");
    rec.stop();
    expect(rec.log.filter((l) => l.startsWith("XS_WRITE"))).toEqual([
      `XS_WRITE device/${TYPE}/0/state`,
    ]);
    expect(rec.log.filter((l) => l === "XS_TRANSACTION_START")).toHaveLength(1);
    await h.until(reg.waitFor(0, S.XenbusStateClosed), "the frontend closing after the backend");
    await teardown(h, [bus, d0.bus], [d0.close]);
  });

  it("reports a state write xenstored refuses with EACCES to the bus and onError, and makes it fatal with 'writing new state'", async () => {
    const h = host();
    const log: Log = [];
    const d0 = dom0Bus(h);
    const back = d0.bus.registerBackend(tdevBack(log));
    const reported: { err: unknown; dev: XenbusDevice | undefined }[] = [];
    let node = "";
    const base = tdevFront(log);
    let resolveBus!: (b: XenbusBus) => void;
    const busP = new Promise<XenbusBus>((r) => (resolveBus = r));
    const dom = await h.createDomain({
      name: "front",
      devices: [{ kind: TYPE, devid: 0, backend: 0 }],
      main: (ctx) =>
        resolveBus(
          new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }), {
            onError: (err, dev) => reported.push({ err, dev }),
          }),
        ),
    });
    node = `/local/domain/${dom.domid}/device/${TYPE}/0/state`;
    const bus = await h.until(busP, "the guest's bus");
    const reg = bus.registerFrontend({
      ...base,
      async connect(dev) {
        await base.connect(dev);
        // The toolstack takes the state node away from the guest: its switch to Connected is refused.
        const c = h.openXenstore();
        c.setPerms(node, ["n0"]);
        c.conn.close();
      },
    });
    await h.until(back.connected(0, dom.domid), "the backend connected");
    await h.hv.settle();
    const fe = reg.device(0)!;
    // The bus's own rescan of device/tdev (the permission change fired its watch) refused reading
    // the node, then the device's refused switch.
    expect(bus.errors.map((e) => (e as Error).message)).toEqual([
      `XS_READ failed: EACCES (-13): path "device/${TYPE}/0/state"`,
      `XS_READ failed: EACCES (-13): path "device/${TYPE}/0/state"`,
    ]);
    expect(reported.map((r) => r.err)).toEqual(bus.errors);
    expect(reported.map((r) => r.dev === fe)).toEqual([false, true]); // the scan's, then the device's
    expect(fe.lastError).toBe("13 writing new state Connected");
    expect(readNode(h, `/local/domain/${dom.domid}/error/device/${TYPE}/0/error`)).toBe(
      "13 writing new state Connected",
    );
    expect(readNode(h, node)).toBe(String(S.XenbusStateInitialised)); // nothing written
    expect(fe.state).toBe(S.XenbusStateInitialised); // the fatal's Closing was refused too
    // Given the node back, the frontend closes cleanly.
    const c = h.openXenstore();
    c.setPerms(node, [`n${dom.domid}`, "r0"]);
    c.conn.close();
    await teardown(h, [bus, d0.bus], [d0.close], { allowErrors: true });
    expect(bus.errors).toHaveLength(2);
    expect(d0.bus.errors).toEqual([]);
  });
});
