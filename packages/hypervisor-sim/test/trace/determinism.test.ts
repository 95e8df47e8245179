import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { EVTCHNOP } from "@pvkit/hypervisor-sim/abi";
import { connect, mapSharedInfo, miniUpcall } from "../helpers.js";

/** Four domains in a ring, each forwarding every event it sees to the next for a while. */
function scenario(
  seed: number,
  listen: ReadonlySet<"hypercall" | "raise" | "upcall"> = new Set(["hypercall", "raise", "upcall"]),
): { trace: string; upcallOrder: number[]; upcallSeqs: number[] } {
  const hv = new Hypervisor({ mode: "manual", chaos: { seed, maxDelayNs: 5000 } });
  const events: unknown[] = [];
  const upcallSeqs: number[] = [];
  if (listen.has("hypercall")) hv.trace.on("hypercall", (e) => events.push(["hypercall", e]));
  if (listen.has("raise")) hv.trace.on("raise", (e) => events.push(["raise", e]));
  if (listen.has("upcall"))
    hv.trace.on("upcall", (e) => {
      events.push(["upcall", e]);
      upcallSeqs.push(e.seq);
    });
  for (let i = 0; i < 4; i++) hv.createDomain({ vcpus: 2 });
  const guests = [0, 1, 2, 3].map((d) => hv.guest(d));
  const links = guests.map((g, i) => connect(g, guests[(i + 1) % 4]!));
  const upcallOrder: number[] = [];
  guests.forEach((g, i) => {
    const sh = mapSharedInfo(g);
    const seen: number[] = [];
    const handler = miniUpcall(sh, 0, seen);
    let budget = 6;
    g.registerUpcall(0, () => {
      upcallOrder.push(i);
      handler();
      seen.length = 0;
      if (budget-- > 0)
        g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: links[i]![0] });
    });
  });
  for (let i = 0; i < 4; i++)
    guests[i]!.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: links[i]![0] });
  hv.runUntilIdle();
  return { trace: JSON.stringify(events), upcallOrder, upcallSeqs };
}

describe("determinism", () => {
  it("gives a byte-identical trace for the same seed", () => {
    const a = scenario(42);
    const b = scenario(42);
    expect(a.trace.length).toMatchInlineSnapshot(`9584`);
    expect(a.trace).toBe(b.trace);
  });

  it("numbers a point the same whichever events are listened to", () => {
    const all = scenario(42);
    const upcallsOnly = scenario(42, new Set(["upcall"]));
    expect(upcallsOnly.upcallOrder).toEqual(all.upcallOrder);
    expect(upcallsOnly.upcallSeqs.length).toBe(25);
    expect(upcallsOnly.upcallSeqs).toEqual(all.upcallSeqs);
  });

  it("gives different interleavings for different seeds", () => {
    const a = scenario(1);
    const b = scenario(2);
    expect(a.upcallOrder).not.toEqual(b.upcallOrder);
    expect(a.trace).not.toBe(b.trace);
  });

  it("without chaos delivers in FIFO order at a constant virtual time", () => {
    const hv = new Hypervisor({ mode: "manual" });
    for (let i = 0; i < 4; i++) hv.createDomain();
    const delivered: string[] = [];
    hv.trace.on("upcall", (e) => delivered.push(`d${e.domid}@${e.t}`));
    const g0 = hv.guest(0);
    const ports = new Map<number, number>(); // domid -> dom0's port to it
    for (const d of [1, 2, 3]) {
      const g = hv.guest(d);
      const [p0] = connect(g0, g);
      ports.set(d, p0);
      const sh = mapSharedInfo(g);
      g.registerUpcall(0, miniUpcall(sh, 0, []));
    }
    const send = (d: number): void =>
      void g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: ports.get(d)! });
    // bind_interdomain left each domU's new port pending: those deliveries come first, in bind order.
    hv.runUntilIdle();
    expect(delivered).toEqual(["d1@0", "d2@0", "d3@0"]);
    delivered.length = 0;
    // Sends in an order that is neither domid order nor its reverse: deliveries follow it.
    for (const d of [2, 3, 1]) send(d);
    hv.runUntilIdle();
    expect(delivered).toEqual(["d2@0", "d3@0", "d1@0"]);
    // A second round in another order, after virtual time moved on.
    hv.advance(1000);
    for (const d of [3, 1, 2]) send(d);
    hv.runUntilIdle();
    expect(delivered).toEqual(["d2@0", "d3@0", "d1@0", "d3@1000", "d1@1000", "d2@1000"]);
  });
});
