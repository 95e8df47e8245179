/**
 * BackRing against a frontend that publishes `req_prod` more than RING_SIZE ahead of the
 * backend's `rsp_prod_pvt` (`RING_REQUEST_PROD_OVERFLOW`), the mirror of a backend claiming
 * more responses than requests outstanding. The ring halts before any request of the lying
 * batch is decoded. Every scenario runs at index 0 and across the 2^31 and 2^32 wraps.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Page } from "@pvkit/hypervisor-sim";
import type { BackRing } from "@pvkit/guest-sdk";
import {
  filler,
  ringErrorOf,
  ringsWithAnswered,
  type TestReq,
  type TestRsp,
  testSpec,
  WRAP_STARTS,
} from "./helpers.js";

const spec = testSpec(112, 16); // 32 slots on one page
const SIZE = 32;
const u32 = (x: number): number => x >>> 0;
const hex = (v: number): string => `0x${u32(v).toString(16).padStart(8, "0")}`;
const req = (id: number): TestReq => ({ id, payload: filler(id, 108) });
/** The id a forged request carries: never one the honest frontend used. */
const FORGED = 0xbad00000;

/** Writes a forged request (id FORGED + idx) straight into the slot of ring index `idx`. */
function forge(pages: readonly Page[], idx: number): void {
  pages[0]!.setU32(64 + (idx & (SIZE - 1)) * 112, u32(FORGED + idx));
}

/** The frontend publishes `req_prod` (the hostile part: any value it likes). */
function publishReqProd(pages: readonly Page[], value: number): void {
  pages[0]!.setU32(0, u32(value));
}

const withConsumed = (start: number, k: number, answered: number) =>
  ringsWithAnswered(start, spec, k, answered);

/** Consumes until the ring says there is nothing more, or throws; returns what was taken. */
function drain(back: BackRing<TestReq, TestRsp>): {
  ids: number[];
  error: ReturnType<typeof ringErrorOf>;
} {
  const ids: number[] = [];
  const error = ringErrorOf(() => {
    for (let r = back.consumeRequest(); r !== undefined; r = back.consumeRequest()) ids.push(r.id);
  });
  return { ids, error };
}

describe.each(WRAP_STARTS)("a back ring with indices near $at", ({ start }) => {
  it("halts when a frontend publishes more requests than RING_SIZE beyond the responses produced", () => {
    const { pages, back } = withConsumed(start, 3, 0);
    for (let i = 3; i <= SIZE; i++) forge(pages, u32(start + i));
    publishReqProd(pages, start + SIZE + 1);
    // The capped count (4.17 RING_HAS_UNCONSUMED_REQUESTS) never claims more than the free slots.
    expect(back.unconsumedRequests).toBe(SIZE - 3);

    const { ids, error } = drain(back);
    expect(ids).toEqual([]);
    expect(error?.code).toBe("ERR_RING_REQ_PROD_OVERFLOW");
    expect(error?.fault).toEqual({
      reason: "req-prod-overflow",
      req_prod: u32(start + SIZE + 1),
      req_cons: u32(start + 3),
      rsp_prod_pvt: u32(start),
      RING_SIZE: SIZE,
    });
    expect(error?.message).toBe(
      `RING_REQUEST_PROD_OVERFLOW: frontend published req_prod=${hex(start + SIZE + 1)} but req_cons=${hex(start + 3)}, ` +
        `rsp_prod_pvt=${hex(start)}, RING_SIZE=32 (req_prod - rsp_prod_pvt > RING_SIZE)`,
    );
    expect(back.reqCons).toBe(u32(start + 3));

    // Halted: the same error for everything, even after the frontend "repairs" req_prod.
    publishReqProd(pages, start + 3);
    expect(back.halted).toBe(error);
    expect(() => back.consumeRequest()).toThrow(error);
    expect(() => back.unconsumedRequests).toThrow(error);
    expect(() => back.finalCheckForRequests()).toThrow(error);
    expect(() => back.produceResponse({ id: 0, status: 0, payload: filler(0, 10) })).toThrow(error);
    expect(() => back.pushResponsesAndCheckNotify()).toThrow(error);
  });

  it("delivers requests up to exactly RING_SIZE beyond the responses produced", () => {
    const { front, back } = withConsumed(start, 3, 0);
    // The honest frontend fills the 29 free slots: req_prod = rsp_prod_pvt + RING_SIZE.
    for (let id = 3; id < SIZE; id++) front.produceRequest(req(id));
    expect(front.full).toBe(true);
    front.pushRequestsAndCheckNotify();
    expect(back.unconsumedRequests).toBe(SIZE - 3);
    expect(drain(back)).toEqual({
      ids: Array.from({ length: SIZE - 3 }, (_, i) => 3 + i),
      error: undefined,
    });
    expect(back.outstanding).toBe(SIZE);
    // Answering frees the slots for a second lap.
    for (let i = 0; i < SIZE; i++)
      back.produceResponse({ id: i, status: 0, payload: filler(i, 10) });
    back.pushResponsesAndCheckNotify();
    for (let i = 0; i < SIZE; i++) expect(front.consumeResponse()?.id).toBe(i);
    for (let id = 100; id < 100 + SIZE; id++) front.produceRequest(req(id));
    front.pushRequestsAndCheckNotify();
    expect(drain(back)).toEqual({
      ids: Array.from({ length: SIZE }, (_, i) => 100 + i),
      error: undefined,
    });
    expect(back.reqCons).toBe(u32(start + 2 * SIZE));
    expect(back.halted).toBeUndefined();
  });
});

describe("a back ring under any req_prod", () => {
  it("never holds more than RING_SIZE requests unanswered, whatever req_prod the frontend publishes", () => {
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
          const answered = answeredSeed % (k + 1);
          const { pages, back } = withConsumed(start, k, answered);
          for (let i = k; i < answered + SIZE; i++) forge(pages, u32(start + i));
          const rspProdPvt = u32(start + answered);
          // `claim` requests published beyond rsp_prod_pvt.
          publishReqProd(pages, rspProdPvt + claim);
          const unanswered = k - answered;

          const { ids, error } = drain(back);
          expect(back.outstanding).toBeLessThanOrEqual(SIZE);
          if (claim > SIZE) {
            expect(ids).toEqual([]);
            expect(back.halted).toBe(error);
            expect(error?.fault).toEqual({
              reason: "req-prod-overflow",
              req_prod: u32(rspProdPvt + claim),
              req_cons: u32(start + k),
              rsp_prod_pvt: rspProdPvt,
              RING_SIZE: SIZE,
            });
            return;
          }
          expect(error).toBeUndefined();
          if (claim >= unanswered) {
            // Exactly the published ones, forged or not, in ring order.
            expect(ids).toEqual(
              Array.from({ length: claim - unanswered }, (_, i) => u32(FORGED + start + k + i)),
            );
          } else {
            // req_prod moved back behind req_cons: like the C loop (rc != rp, bounded by
            // RING_REQUEST_CONS_OVERFLOW) the backend takes only what fits the free slots.
            expect(ids).toHaveLength(SIZE - unanswered);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
