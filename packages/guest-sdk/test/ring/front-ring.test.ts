/**
 * FrontRing against a backend that claims more responses than the frontend has requests
 * outstanding. `io/ring.h` accepts any `rsp_prod` up to `rsp_cons + RING_SIZE`; the front ring
 * also refuses one beyond `req_prod_pvt`, halting before any response of the lying batch is
 * decoded. Every scenario runs at index 0 and across the 2^31 and 2^32 wraps.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Page } from "@pvkit/hypervisor-sim";
import type { FrontRing } from "@pvkit/guest-sdk";
import {
  filler,
  ringErrorOf,
  ringsWithAnswered,
  type TestReq,
  type TestRsp,
  testSpec,
  WRAP_STARTS,
} from "./helpers.js";

const spec = testSpec(112, 16); // blkif-sized entries: 32 slots on one page
const SIZE = 32;
const u32 = (x: number): number => x >>> 0;
const hex = (v: number): string => `0x${u32(v).toString(16).padStart(8, "0")}`;
const req = (id: number): TestReq => ({ id, payload: filler(id, 108) });
/** The id a forged response carries: never one the frontend used. */
const FORGED = 0xbad00000;

/** Writes a forged response (id FORGED + idx) straight into the slot of ring index `idx`. */
function forge(pages: readonly Page[], idx: number): void {
  const off = 64 + (idx & (SIZE - 1)) * 112;
  pages[0]!.setU32(off, u32(FORGED + idx));
  pages[0]!.setU16(off + 4, 0);
}

/** The backend publishes `rsp_prod` (the hostile part: any value it likes). */
function publishRspProd(pages: readonly Page[], value: number): void {
  pages[0]!.setU32(8, u32(value));
}

const withOutstanding = (start: number, k: number, answered: number) =>
  ringsWithAnswered(start, spec, k, answered);

/** Consumes until the ring says there is nothing more, or throws; returns what was taken. */
function drain(front: FrontRing<TestReq, TestRsp>): {
  ids: number[];
  error: ReturnType<typeof ringErrorOf>;
} {
  const ids: number[] = [];
  const error = ringErrorOf(() => {
    for (let r = front.consumeResponse(); r !== undefined; r = front.consumeResponse())
      ids.push(r.id);
  });
  return { ids, error };
}

describe.each(WRAP_STARTS)("a front ring with indices near $at", ({ start }) => {
  it("halts when a backend publishes more responses than requests outstanding", () => {
    const { pages, front, back } = withOutstanding(start, 3, 0);
    // The three honest answers, then 29 forged ones filling the ring: rsp_prod = rsp_cons + RING_SIZE,
    // which RING_RESPONSE_PROD_OVERFLOW accepts.
    for (let i = 0; i < 3; i++) back.produceResponse({ id: i, status: 0, payload: filler(i, 10) });
    for (let i = 3; i < SIZE; i++) forge(pages, u32(start + i));
    publishRspProd(pages, start + SIZE);

    // Before anything is consumed: the raw claim, as the io/ring.h macros read it.
    expect(front.unconsumedResponses).toBe(SIZE);
    expect(front.finalCheckForResponses()).toBe(true);
    expect(front.freeRequests).toBe(SIZE - 3);

    const { ids, error } = drain(front);
    expect(ids).toEqual([]); // not even the three honest answers of the lying batch
    expect(error?.code).toBe("ERR_RING_RSP_PROD_BEYOND_REQUESTS");
    expect(error?.reason).toBe("rsp-prod-beyond-requests");
    expect(error?.fault).toEqual({
      reason: "rsp-prod-beyond-requests",
      rsp_prod: u32(start + SIZE),
      rsp_cons: u32(start),
      req_prod_pvt: u32(start + 3),
      outstanding: 3,
    });
    expect(error?.message).toBe(
      `backend published rsp_prod=${hex(start + SIZE)} but rsp_cons=${hex(start)}, req_prod_pvt=${hex(start + 3)}: ` +
        "32 responses for 3 outstanding requests (rsp_prod - rsp_cons > req_prod_pvt - rsp_cons)",
    );
    expect(front.rspCons).toBe(u32(start));

    // Halted: the same error for everything, even after the backend "repairs" rsp_prod.
    publishRspProd(pages, start + 3);
    expect(front.halted).toBe(error);
    expect(() => front.consumeResponse()).toThrow(error);
    expect(() => front.freeRequests).toThrow(error);
    expect(() => front.unconsumedResponses).toThrow(error);
    expect(() => front.finalCheckForResponses()).toThrow(error);
    expect(() => front.produceRequest(req(9))).toThrow(error);
    expect(() => front.pushRequestsAndCheckNotify()).toThrow(error);
  });

  it("halts at the first response beyond the requests outstanding, after delivering the ones before it", () => {
    const { pages, front, back } = withOutstanding(start, 3, 2);
    expect(drain(front)).toEqual({ ids: [0, 1], error: undefined });
    // One request is outstanding; the backend answers it and adds one forged response.
    back.produceResponse({ id: 2, status: 0, payload: filler(2, 10) });
    forge(pages, u32(start + 3));
    publishRspProd(pages, start + 4);
    const { ids, error } = drain(front);
    expect(ids).toEqual([]);
    expect(error?.fault).toEqual({
      reason: "rsp-prod-beyond-requests",
      rsp_prod: u32(start + 4),
      rsp_cons: u32(start + 2),
      req_prod_pvt: u32(start + 3),
      outstanding: 1,
    });
    expect(error?.message).toContain(": 2 responses for 1 outstanding requests");
    expect(front.halted).toBe(error);
  });

  it("halts on any response when no request is outstanding", () => {
    const { pages, front } = withOutstanding(start, 0, 0);
    forge(pages, u32(start));
    publishRspProd(pages, start + 1);
    const { ids, error } = drain(front);
    expect(ids).toEqual([]);
    expect(error?.fault).toEqual({
      reason: "rsp-prod-beyond-requests",
      rsp_prod: u32(start + 1),
      rsp_cons: u32(start),
      req_prod_pvt: u32(start),
      outstanding: 0,
    });
  });

  it("delivers every response when the backend publishes exactly as many as are outstanding", () => {
    // Three outstanding, three answered.
    const small = withOutstanding(start, 3, 3);
    expect(drain(small.front)).toEqual({ ids: [0, 1, 2], error: undefined });
    expect(small.front.freeRequests).toBe(SIZE);
    expect(small.front.halted).toBeUndefined();

    // A full ring, answered in two batches, then a second lap over the same slots.
    const { front, back } = withOutstanding(start, SIZE, 20);
    expect(front.freeRequests).toBe(0);
    expect(drain(front)).toEqual({
      ids: Array.from({ length: 20 }, (_, i) => i),
      error: undefined,
    });
    for (let i = 20; i < SIZE; i++)
      back.produceResponse({ id: i, status: 0, payload: filler(i, 10) });
    back.pushResponsesAndCheckNotify();
    expect(drain(front)).toEqual({
      ids: Array.from({ length: SIZE - 20 }, (_, i) => 20 + i),
      error: undefined,
    });
    expect(front.freeRequests).toBe(SIZE);
    for (let id = 100; id < 100 + SIZE; id++) front.produceRequest(req(id));
    front.pushRequestsAndCheckNotify();
    for (let id = 100; id < 100 + SIZE; id++) {
      expect(back.consumeRequest()?.id).toBe(id);
      back.produceResponse({ id, status: 0, payload: filler(id, 10) });
    }
    back.pushResponsesAndCheckNotify();
    expect(drain(front)).toEqual({
      ids: Array.from({ length: SIZE }, (_, i) => 100 + i),
      error: undefined,
    });
    expect(front.rspCons).toBe(u32(start + 2 * SIZE));
    expect(front.reqProdPvt).toBe(u32(start + 2 * SIZE));
    expect(front.freeRequests).toBe(SIZE);
    expect(front.halted).toBeUndefined();
  });

  it("reports RING_RESPONSE_PROD_OVERFLOW, not the outstanding rule, when rsp_prod is more than RING_SIZE ahead", () => {
    const { pages, front } = withOutstanding(start, 3, 0);
    publishRspProd(pages, start + SIZE + 1);
    const { ids, error } = drain(front);
    expect(ids).toEqual([]);
    expect(error?.code).toBe("ERR_RING_RSP_PROD_OVERFLOW");
    expect(error?.fault).toEqual({
      reason: "rsp-prod-overflow",
      rsp_prod: u32(start + SIZE + 1),
      rsp_cons: u32(start),
      req_prod_pvt: u32(start + 3),
      RING_SIZE: SIZE,
    });
  });
});

describe("a front ring under any rsp_prod", () => {
  it("delivers responses only for requests outstanding, whatever rsp_prod the backend publishes", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant(0),
          fc.integer({ min: 0, max: 40 }).map((k) => 2 ** 31 - k),
          fc.integer({ min: 1, max: 40 }).map((k) => 2 ** 32 - k),
          fc.nat({ max: 0xffffffff }),
        ),
        fc.integer({ min: 0, max: SIZE }),
        fc.nat(SIZE),
        fc.oneof(fc.constantFrom(SIZE, SIZE + 1), fc.nat(SIZE + 8), fc.nat({ max: 0xffffffff })),
        (start, k, answeredSeed, claim) => {
          // k outstanding; `answered` of them answered and consumed honestly first.
          const answered = answeredSeed % (k + 1);
          const { pages, front, back } = withOutstanding(start, k, answered);
          expect(drain(front)).toEqual({
            ids: Array.from({ length: answered }, (_, i) => i),
            error: undefined,
          });
          // The backend writes the honest answers to the rest, forges the slots after them, and
          // claims `claim` responses past rsp_cons.
          for (let i = answered; i < k; i++)
            back.produceResponse({ id: i, status: 0, payload: filler(i, 10) });
          for (let i = k; i < answered + SIZE; i++) forge(pages, u32(start + i));
          const rspCons = u32(start + answered);
          publishRspProd(pages, rspCons + claim);
          const outstanding = k - answered;

          const { ids, error } = drain(front);
          if (claim <= outstanding) {
            expect(error).toBeUndefined();
            expect(ids).toEqual(Array.from({ length: claim }, (_, i) => answered + i));
            expect(front.freeRequests).toBe(SIZE - (outstanding - claim));
            return;
          }
          expect(ids).toEqual([]);
          expect(front.halted).toBe(error);
          expect(error?.fault).toEqual(
            claim > SIZE
              ? {
                  reason: "rsp-prod-overflow",
                  rsp_prod: u32(rspCons + claim),
                  rsp_cons: rspCons,
                  req_prod_pvt: u32(start + k),
                  RING_SIZE: SIZE,
                }
              : {
                  reason: "rsp-prod-beyond-requests",
                  rsp_prod: u32(rspCons + claim),
                  rsp_cons: rspCons,
                  req_prod_pvt: u32(start + k),
                  outstanding,
                },
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
