/** requests$ / responses$: drain on each kick with final-check re-arm; cold; teardown unsubscribes. */
import { describe, expect, it } from "vitest";
import { Subject } from "rxjs";
import { BackRing, FrontRing, RingProtocolError, requests$, responses$ } from "@pvkit/guest-sdk";
import { filler, makePages, type TestReq, testSpec } from "./helpers.js";

function pair(validate?: (r: TestReq) => string | undefined) {
  const base = testSpec(16, 8);
  const spec = validate ? { ...base, request: { ...base.request, validate } } : base;
  const pages = makePages(1);
  return { pages, front: FrontRing.init(pages, spec), back: BackRing.attach(pages, spec) };
}
const req = (id: number): TestReq => ({ id, payload: filler(id, 12) });

describe("requests$ and responses$", () => {
  it("is cold: subscribes to kick$ only when subscribed, and unsubscribes on teardown", () => {
    const { back } = pair();
    const kick$ = new Subject<void>();
    const obs = requests$(back, kick$);
    expect(kick$.observed).toBe(false);
    const sub = obs.subscribe();
    expect(kick$.observed).toBe(true);
    sub.unsubscribe();
    expect(kick$.observed).toBe(false);
  });

  it("drains everything published on each kick and re-arms req_event when done", () => {
    const { pages, front, back } = pair();
    const kick$ = new Subject<void>();
    const got: number[] = [];
    const sub = requests$(back, kick$).subscribe((r) => got.push(r.id));
    for (const id of [1, 2, 3]) front.produceRequest(req(id));
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    expect(got).toEqual([]); // nothing before the notification arrives
    kick$.next();
    expect(got).toEqual([1, 2, 3]);
    expect(pages[0]!.getU32(4)).toBe(4); // req_event = req_cons + 1
    // The re-arm means the very next request notifies.
    front.produceRequest(req(4));
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    kick$.next();
    expect(got).toEqual([1, 2, 3, 4]);
    sub.unsubscribe();
  });

  it("picks up a request pushed while it is emitting, through the final check", () => {
    const { front, back } = pair();
    const kick$ = new Subject<void>();
    const got: number[] = [];
    requests$(back, kick$).subscribe((r) => {
      got.push(r.id);
      if (r.id === 1) {
        // The frontend pushes during the drain; its notification is suppressed (req_event is
        // still 1) but the drain's final check finds it.
        front.produceRequest(req(2));
        expect(front.pushRequestsAndCheckNotify()).toBe(false);
      }
    });
    front.produceRequest(req(1));
    front.pushRequestsAndCheckNotify();
    kick$.next();
    expect(got).toEqual([1, 2]);
  });

  it("folds a kick emitted synchronously during a drain into another pass", () => {
    const { front, back } = pair();
    const kick$ = new Subject<void>();
    const got: number[] = [];
    requests$(back, kick$).subscribe((r) => {
      got.push(r.id);
      if (r.id === 1) kick$.next(); // re-entrant notification
    });
    front.produceRequest(req(1));
    front.produceRequest(req(2));
    front.pushRequestsAndCheckNotify();
    kick$.next();
    expect(got).toEqual([1, 2]);
  });

  it("errors responses$ and emits nothing when a backend publishes more responses than requests outstanding", () => {
    const { pages, front, back } = pair();
    const kick$ = new Subject<void>();
    const got: number[] = [];
    let error: unknown;
    responses$(front, kick$).subscribe({
      next: (r) => got.push(r.id),
      error: (e: unknown) => (error = e),
    });
    front.produceRequest(req(1));
    front.produceRequest(req(2));
    front.pushRequestsAndCheckNotify();
    back.consumeRequest();
    back.consumeRequest();
    back.produceResponse({ id: 1, status: 0, payload: new Uint8Array(2) });
    back.produceResponse({ id: 2, status: 0, payload: new Uint8Array(2) });
    pages[0]!.setU32(8, 3); // rsp_prod: three responses for two requests (within RING_SIZE)
    kick$.next();
    expect(got).toEqual([]);
    expect(error).toBeInstanceOf(RingProtocolError);
    expect((error as RingProtocolError).fault).toEqual({
      reason: "rsp-prod-beyond-requests",
      rsp_prod: 3,
      rsp_cons: 0,
      req_prod_pvt: 2,
      outstanding: 2,
    });
    expect(front.halted).toBe(error);
    expect(kick$.observed).toBe(false);
  });

  it("delivers responses to the frontend and errors with the halting RingProtocolError", () => {
    const { pages, front, back } = pair();
    const kick$ = new Subject<void>();
    const got: number[] = [];
    let error: unknown;
    responses$(front, kick$).subscribe({
      next: (r) => got.push(r.id),
      error: (e: unknown) => (error = e),
    });
    front.produceRequest(req(9));
    front.pushRequestsAndCheckNotify();
    back.consumeRequest();
    back.produceResponse({ id: 9, status: 0, payload: new Uint8Array(2) });
    expect(back.pushResponsesAndCheckNotify()).toBe(true);
    kick$.next();
    expect(got).toEqual([9]);
    pages[0]!.setU32(8, 500); // hostile backend: rsp_prod far ahead
    kick$.next();
    expect(error).toBeInstanceOf(RingProtocolError);
    expect((error as RingProtocolError).code).toBe("ERR_RING_RSP_PROD_OVERFLOW");
    expect(front.halted).toBe(error);
    expect(kick$.observed).toBe(false); // the errored stream released kick$
  });

  it("hands reported invalid entries to onInvalid and keeps draining", () => {
    const { front, back } = pair((r) => (r.id === 13 ? "unlucky" : undefined));
    const kick$ = new Subject<void>();
    const got: number[] = [];
    const invalid: RingProtocolError[] = [];
    requests$(back, kick$, { onInvalid: (e) => invalid.push(e) }).subscribe((r) => got.push(r.id));
    for (const id of [12, 13, 14]) front.produceRequest(req(id));
    front.pushRequestsAndCheckNotify();
    kick$.next();
    expect(got).toEqual([12, 14]);
    expect(invalid.map((e) => e.fault.reason === "invalid-entry" && e.fault.index)).toEqual([1]);
  });

  it("errors on an invalid entry when no onInvalid is given", () => {
    const { front, back } = pair((r) => (r.id === 13 ? "unlucky" : undefined));
    const kick$ = new Subject<void>();
    let error: unknown;
    requests$(back, kick$).subscribe({ error: (e: unknown) => (error = e) });
    front.produceRequest(req(13));
    front.pushRequestsAndCheckNotify();
    kick$.next();
    expect((error as RingProtocolError).code).toBe("ERR_RING_INVALID_ENTRY");
    expect(back.halted).toBeUndefined(); // the ring itself is still usable
  });

  it("completes when kick$ completes", () => {
    const { back } = pair();
    const kick$ = new Subject<void>();
    let done = false;
    requests$(back, kick$).subscribe({ complete: () => (done = true) });
    kick$.complete();
    expect(done).toBe(true);
  });
});
