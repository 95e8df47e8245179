// Which hypercall caused which upcall: only raises a hypercall can make are linked to it.
import { describe, expect, it } from "vitest";
import { linkNotifications, type TraceRecord } from "@pvkit/toolstack";

const bind: TraceRecord = {
  kind: "hypercall",
  n: 0,
  t: 0,
  seq: 0,
  domid: 2,
  vcpu: 0,
  hypercall: "event_channel_op",
  cmd: "EVTCHNOP_bind_interdomain",
  args: { remote_dom: 1, remote_port: 5, local_port: 3 },
  result: 0,
};
const send: TraceRecord = {
  kind: "hypercall",
  n: 3,
  t: 0,
  seq: 3,
  domid: 2,
  vcpu: 0,
  hypercall: "event_channel_op",
  cmd: "EVTCHNOP_send",
  args: { port: 3 },
  result: 0,
};

describe("linkNotifications", () => {
  it("links a send to the upcall on the peer of the sent port", () => {
    const records: TraceRecord[] = [
      bind,
      { kind: "raise", n: 1, t: 0, seq: 1, domid: 1, port: 5, vcpu: 0, outcome: "upcall" },
      { ...send, n: 2, seq: 2 },
      { kind: "upcall", n: 3, t: 0, seq: 3, domid: 1, vcpu: 0 },
    ];
    expect(linkNotifications(records)).toEqual([{ id: 1, from: 2, to: 3, port: 5 }]);
  });

  it("does not link a timer's VIRQ raise to a send that happens to follow it", () => {
    const records: TraceRecord[] = [
      bind,
      { kind: "timer", n: 1, t: 0, seq: 1, domid: 4, vcpu: 0 },
      { kind: "raise", n: 2, t: 0, seq: 2, domid: 4, port: 9, vcpu: 0, outcome: "upcall" },
      send,
      { kind: "upcall", n: 4, t: 0, seq: 4, domid: 4, vcpu: 0 },
    ];
    expect(linkNotifications(records)).toEqual([]);
  });

  it("does not link a masked raise", () => {
    const records: TraceRecord[] = [
      bind,
      { kind: "raise", n: 1, t: 0, seq: 1, domid: 1, port: 5, vcpu: 0, outcome: "masked" },
      { ...send, n: 2, seq: 2 },
      { kind: "upcall", n: 3, t: 0, seq: 3, domid: 1, vcpu: 0 },
    ];
    expect(linkNotifications(records)).toEqual([]);
  });
});
