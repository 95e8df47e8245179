// A Closed frontend reconnects when its backend comes back, as Linux's blkback_changed does: the
// backend at InitWait while the frontend is Closed re-runs `initialise` (talk_to_blkback), and
// at Connected while the frontend is neither Initialised nor Connected runs `initialise`, then
// `connect`. Also: a Connected frontend whose backend is back at Initialising (its driver
// crashed and a fresh one took the directory over) closes the dead connection and reconnects.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import {
  type Log,
  S,
  TYPE,
  dom0Bus,
  tdevBack,
  tdevGuest,
  tdevPair,
  teardown,
  readNode,
  writeNode,
} from "./helpers.js";

describe("xenbus driver framework: a Closed frontend reconnects when the backend comes back", () => {
  const host = useHost();

  it("re-runs initialise from Closed when the backend is back at InitWait", async () => {
    const h = host();
    const { log, d0, back, dom, bus, reg } = await tdevPair(h);
    await h.until(reg.connected(0), "the first connect");
    const be = `/local/domain/0/backend/${TYPE}/${dom.domid}/0`;
    const fe = `/local/domain/${dom.domid}/device/${TYPE}/0`;
    // The backend closes (the frontend follows: Closed, both ends; the device stays online).
    writeNode(h, `${be}/state`, String(S.XenbusStateClosing));
    await h.until(reg.waitFor(0, S.XenbusStateClosed), "the frontend closing");
    await h.hv.settle();
    expect([readNode(h, `${fe}/state`), readNode(h, `${be}/state`)]).toEqual([
      String(S.XenbusStateClosed),
      String(S.XenbusStateClosed),
    ]);
    // The backend offers again (InitWait): the Closed frontend publishes anew, as talk_to_blkback.
    writeNode(h, `${be}/state`, String(S.XenbusStateInitWait));
    const dev = await h.until(reg.connected(0), "the frontend reconnecting by itself");
    await h.until(back.connected(0, dom.domid), "the backend connecting again");
    expect(dev.state).toBe(S.XenbusStateConnected);
    expect(readNode(h, `${be}/state`)).toBe(String(S.XenbusStateConnected));
    expect(log.filter((l) => l.startsWith("fe:"))).toEqual([
      "fe:initialise 0",
      "fe:connect 0 feature-x=7",
      "fe:disconnect 0",
      "fe:initialise 0",
      "fe:connect 0 feature-x=7",
    ]);
    await teardown(h, [bus, d0.bus], [d0.close]);
  });

  it("runs initialise then connect from Closed when the backend says Connected", async () => {
    const h = host();
    const { log, d0, back, dom, bus, reg } = await tdevPair(h);
    await h.until(reg.connected(0), "the first connect");
    const be = `/local/domain/0/backend/${TYPE}/${dom.domid}/0`;
    // The backend is told to close (the frontend follows), then is poked back to Connected.
    writeNode(h, `${be}/state`, String(S.XenbusStateClosing));
    await h.until(reg.waitFor(0, S.XenbusStateClosed), "the frontend closing");
    writeNode(h, `${be}/state`, String(S.XenbusStateConnected));
    await h.until(reg.connected(0), "the frontend reconnecting");
    await h.until(back.connected(0, dom.domid), "the backend connecting again");
    expect(log.filter((l) => l.startsWith("fe:"))).toEqual([
      "fe:initialise 0",
      "fe:connect 0 feature-x=7",
      "fe:disconnect 0",
      "fe:initialise 0",
      "fe:connect 0 feature-x=7",
    ]);
    await teardown(h, [bus, d0.bus], [d0.close]);
  });

  it("closes the dead connection and reconnects when a Connected frontend's backend is back at Initialising", async () => {
    const h = host();
    const log: Log = [];
    const first = dom0Bus(h);
    first.bus.registerBackend(tdevBack(log));
    const { dom, bus, reg } = await tdevGuest(h, log);
    await h.until(reg.connected(0), "the first connect");
    const be = `/local/domain/0/backend/${TYPE}/${dom.domid}/0`;
    first.bus.crash();
    first.close();
    writeNode(h, `${be}/state`, String(S.XenbusStateInitialising));
    await h.hv.settle();
    expect(readNode(h, `/local/domain/${dom.domid}/device/${TYPE}/0/state`)).toBe(
      String(S.XenbusStateInitialising),
    );
    const second = dom0Bus(h);
    second.bus.registerBackend(tdevBack(log));
    await h.until(reg.connected(0), "the frontend reconnecting");
    expect(log).toEqual([
      "be:probe 1/0",
      "fe:initialise 0",
      "be:connect 1/0 order=0 magic=feed protocol=x86_64-abi",
      "fe:connect 0 feature-x=7",
      "fe:disconnect 0",
      "be:probe 1/0",
      "fe:initialise 0",
      "be:connect 1/0 order=0 magic=feed protocol=x86_64-abi",
      "fe:connect 0 feature-x=7",
    ]);
    await teardown(h, [bus, second.bus], [second.close]);
  });
});
