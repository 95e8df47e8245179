// XSA-349 (CVE-2020-29568): a frontend that rewrites its watched `state` 100 000 times must not
// make the backend queue 100 000 watch callbacks.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { S, TYPE, tdevPair, teardown } from "./helpers.js";

describe("xenbus driver framework: bounded watch plumbing", () => {
  const host = useHost();

  it("keeps at most one pending run per watch when the frontend's state is written 100 000 times", async () => {
    const h = host();
    const { d0, back, dom, bus, reg } = await tdevPair(h);
    await h.until(reg.connected(0), "the connect");
    const be = back.device(0, dom.domid)!;
    const before = { ...d0.bus.stats };
    // One write at a time, each event delivered before the next write (xenstored cannot merge
    // them), as fast as the backend's microtasks run.
    const hostile = h.openXenstore();
    const fe = `/local/domain/${dom.domid}/device/${TYPE}/0/state`;
    for (let i = 0; i < 100_000; i++) {
      hostile.write(fe, "4");
      await Promise.resolve();
    }
    hostile.conn.close();
    await h.hv.settle();
    const events = d0.bus.stats.events - before.events;
    const runs = d0.bus.stats.runs - before.runs;
    expect(events).toBe(100_000);
    // Two watches on the bus (backend/tdev and the frontend's state): each holds at most one run.
    expect(d0.bus.stats.maxBacklog).toBe(1);
    // Each run covers every event that came in while the previous one read the state.
    expect(runs).toBe(14287);
    expect(be.state).toBe(S.XenbusStateConnected);
    await teardown(h, [bus, d0.bus], [d0.close]);
  }, 60_000);
});
