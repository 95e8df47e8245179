/**
 * Byte-for-byte comparison of FrontRing/BackRing with the C reference model (c-reference.ts):
 * both are driven by the same random operation sequence, and after every step the shared
 * pages must equal the model's bytes and every result must agree.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BackRing, FrontRing } from "@pvkit/guest-sdk";
import * as C from "./c-reference.js";
import { filler, firstDiff, makePages, snapshot, testSpec } from "./helpers.js";

type Op =
  | { t: "produceReq" }
  | { t: "pushReq"; check: boolean }
  | { t: "consumeReq" }
  | { t: "produceRsp"; status: number }
  | { t: "pushRsp"; check: boolean }
  | { t: "consumeRsp" }
  | { t: "finalReq" }
  | { t: "finalRsp" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ t: "produceReq" } as const), weight: 4 },
  { arbitrary: fc.boolean().map((check) => ({ t: "pushReq", check }) as const), weight: 2 },
  { arbitrary: fc.constant({ t: "consumeReq" } as const), weight: 3 },
  {
    arbitrary: fc
      .integer({ min: -32768, max: 32767 })
      .map((status) => ({ t: "produceRsp", status }) as const),
    weight: 3,
  },
  { arbitrary: fc.boolean().map((check) => ({ t: "pushRsp", check }) as const), weight: 2 },
  { arbitrary: fc.constant({ t: "consumeRsp" } as const), weight: 3 },
  { arbitrary: fc.constant({ t: "finalReq" } as const), weight: 1 },
  { arbitrary: fc.constant({ t: "finalRsp" } as const), weight: 1 },
);

/** Start indices: 0 through SHARED_RING_INIT, or attached just below 2^31 or 2^32, or anywhere. */
const startArb = fc.oneof(
  fc.constant<"init">("init"),
  fc.integer({ min: 0, max: 40 }).map((k) => 2 ** 31 - k),
  fc.integer({ min: 1, max: 40 }).map((k) => 2 ** 32 - k),
  fc.nat({ max: 0xffffffff }),
);

/** (request size, response size) pairs: blkif-like, tiny, page-crossing, and huge entries. */
const sizesArb = fc.constantFrom<[number, number]>(
  [112, 16],
  [8, 8],
  [40, 12],
  [64, 64],
  [1000, 6],
  [12, 1500],
  [2017, 8],
);

// One domain's pages, reused (and fully rewritten) by every scenario.
const pagePool = makePages(16);

function runScenario(
  order: number,
  sizes: [number, number],
  start: "init" | number,
  garbage: Uint8Array,
  ops: Op[],
): void {
  const [reqSize, rspSize] = sizes;
  const spec = testSpec(reqSize, rspSize);
  const pages = pagePool.slice(0, 1 << order);
  const total = 4096 << order;
  // Both worlds start from the same random bytes.
  const mem = new Uint8Array(total);
  for (let i = 0; i < total; i++) mem[i] = garbage[i % garbage.length] ?? 0;
  pages.forEach((p, i) => void p.write(0, mem.subarray(i * 4096, (i + 1) * 4096)));
  const s = new C.Sring(mem);
  const entry = Math.max(reqSize, rspSize);

  let front: FrontRing<
    ReturnType<typeof spec.request.decode>,
    ReturnType<typeof spec.response.decode>
  >;
  let cf: C.CFront;
  let cb: C.CBack;
  let back: BackRing<
    ReturnType<typeof spec.request.decode>,
    ReturnType<typeof spec.response.decode>
  >;
  if (start === "init") {
    front = FrontRing.init(pages, spec);
    C.SHARED_RING_INIT(s);
    cf = C.FRONT_RING_ATTACH(s, 0, total, entry);
    back = BackRing.attach(pages, spec);
    cb = C.BACK_RING_ATTACH(s, 0, total, entry);
  } else {
    // A ring that has been running: the shared indices already stand at `start`.
    s.req_prod = s.rsp_prod = start;
    s.req_event = s.rsp_event = start + 1;
    const hdr = pages[0]!;
    hdr.setU32(0, start);
    hdr.setU32(8, start);
    hdr.setU32(4, (start + 1) >>> 0);
    hdr.setU32(12, (start + 1) >>> 0);
    front = FrontRing.attach(pages, spec, start);
    cf = C.FRONT_RING_ATTACH(s, start, total, entry);
    back = BackRing.attach(pages, spec, start);
    cb = C.BACK_RING_ATTACH(s, start, total, entry);
  }
  expect(front.size).toBe(C.RING_SIZE(cf));
  expect(back.size).toBe(C.RING_SIZE(cb));
  expect(firstDiff(snapshot(pages), mem)).toBe(-1);

  let nextReq = 0;
  const outstanding: number[] = []; // request ids consumed by the backend, not yet answered
  let nextRspExpected = 0;
  let nextReqExpected = 0;

  for (const op of ops) {
    switch (op.t) {
      case "produceReq": {
        const req = { id: nextReq, payload: filler(nextReq, reqSize - 4) };
        if (C.RING_FULL(cf)) {
          expect(() => front.produceRequest(req)).toThrow(RangeError);
          break;
        }
        const bytes = new Uint8Array(reqSize);
        new DataView(bytes.buffer).setUint32(0, nextReq, true);
        bytes.set(filler(nextReq, reqSize - 4), 4);
        C.produceRequest(cf, bytes);
        expect(front.produceRequest(req)).toBe((cf.req_prod_pvt - 1) >>> 0);
        nextReq++;
        break;
      }
      case "pushReq":
        if (op.check)
          expect(front.pushRequestsAndCheckNotify()).toBe(
            C.RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(cf),
          );
        else {
          front.pushRequests();
          C.RING_PUSH_REQUESTS(cf);
        }
        break;
      case "consumeReq": {
        expect(back.unconsumedRequests).toBe(C.RING_HAS_UNCONSUMED_REQUESTS(cb));
        const m = C.consumeRequest(cb, reqSize);
        const got = back.consumeRequest();
        expect(m).not.toBe("fatal"); // an honest frontend never overflows
        if (m === "none" || m === "fatal") expect(got).toBeUndefined();
        else {
          const id = new DataView(m.buffer).getUint32(0, true);
          expect(id).toBe(nextReqExpected++);
          expect(got).toEqual({ id, payload: m.slice(4) });
          outstanding.push(id);
        }
        break;
      }
      case "produceRsp": {
        const id = outstanding[0];
        const rsp = { id: id ?? 0, status: op.status, payload: filler(id ?? 0, rspSize - 6, 1) };
        if (id === undefined) {
          expect(() => back.produceResponse(rsp)).toThrow(RangeError);
          break;
        }
        outstanding.shift();
        const bytes = new Uint8Array(rspSize);
        const dv = new DataView(bytes.buffer);
        dv.setUint32(0, id, true);
        dv.setInt16(4, op.status, true);
        bytes.set(rsp.payload, 6);
        C.produceResponse(cb, bytes);
        expect(back.produceResponse(rsp)).toBe((cb.rsp_prod_pvt - 1) >>> 0);
        break;
      }
      case "pushRsp":
        if (op.check)
          expect(back.pushResponsesAndCheckNotify()).toBe(
            C.RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(cb),
          );
        else {
          back.pushResponses();
          C.RING_PUSH_RESPONSES(cb);
        }
        break;
      case "consumeRsp": {
        expect(front.unconsumedResponses).toBe(C.RING_HAS_UNCONSUMED_RESPONSES(cf));
        const m = C.consumeResponse(cf, rspSize);
        const got = front.consumeResponse();
        expect(m).not.toBe("fatal");
        if (m === "none" || m === "fatal") expect(got).toBeUndefined();
        else {
          const dv = new DataView(m.buffer);
          expect(dv.getUint32(0, true)).toBe(nextRspExpected++);
          expect(got).toEqual({
            id: dv.getUint32(0, true),
            status: dv.getInt16(4, true),
            payload: m.slice(6),
          });
        }
        break;
      }
      case "finalReq":
        expect(back.finalCheckForRequests()).toBe(C.RING_FINAL_CHECK_FOR_REQUESTS(cb));
        break;
      case "finalRsp":
        expect(front.finalCheckForResponses()).toBe(C.RING_FINAL_CHECK_FOR_RESPONSES(cf));
        break;
    }
    // Identical shared bytes and private indices after every step.
    expect(firstDiff(snapshot(pages), mem)).toBe(-1);
    expect([front.reqProdPvt, front.rspCons, back.reqCons, back.rspProdPvt]).toEqual([
      cf.req_prod_pvt,
      cf.rsp_cons,
      cb.req_cons,
      cb.rsp_prod_pvt,
    ]);
    expect(front.freeRequests).toBe(C.RING_FREE_REQUESTS(cf));
  }
}

describe("FrontRing/BackRing against the io/ring.h reference model", () => {
  it("produces the same page bytes as the C macros after every step, wrapping at 2^31 and 2^32", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        sizesArb,
        startArb,
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.array(opArb, { maxLength: 250 }),
        (order, sizes, start, garbage, ops) => runScenario(order, sizes, start, garbage, ops),
      ),
      { numRuns: 150 },
    );
  });

  it("matches the model on 8- and 16-page rings too", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 4 }),
        sizesArb,
        startArb,
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.array(opArb, { maxLength: 80 }),
        (order, sizes, start, garbage, ops) => runScenario(order, sizes, start, garbage, ops),
      ),
      { numRuns: 20 },
    );
  });

  it("wraps the u32 indices during a long run started just below 2^32", () => {
    // 4 slots (1000-byte entries), started 3 below 2^32: a few hundred steps cross 2^32 many times.
    const cycle: Op[] = [
      { t: "produceReq" },
      { t: "produceReq" },
      { t: "pushReq", check: true },
      { t: "consumeReq" },
      { t: "produceRsp", status: 0 },
      { t: "consumeReq" },
      { t: "finalReq" },
      { t: "produceRsp", status: -5 },
      { t: "pushRsp", check: true },
      { t: "consumeRsp" },
      { t: "consumeRsp" },
      { t: "finalRsp" },
    ];
    runScenario(
      0,
      [1000, 6],
      2 ** 32 - 3,
      new Uint8Array([0xa5, 0x5a]),
      Array.from({ length: 30 }, () => cycle).flat(),
    );
  });
});
