/**
 * Hostile peers: garbage indices in the shared header, producer indices far ahead, entries
 * rewritten after they were consumed, entries that fail validation. The honest side must
 * report a typed RingProtocolError, stay alive, and never touch memory outside the ring.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BackRing,
  FrontRing,
  RingProtocolError,
  type RingCodec,
  type RingSpec,
} from "@pvkit/guest-sdk";
import * as C from "./c-reference.js";
import {
  type Access,
  filler,
  firstDiff,
  makePages,
  refusing666,
  ringErrorOf,
  snapshot,
  testSpec,
  watchPages,
} from "./helpers.js";

type HostileOp =
  | { t: "front" | "back"; action: number; status: number }
  | { t: "garbage"; field: 0 | 4 | 8 | 12; value: number }
  | { t: "ahead"; field: 0 | 8; by: number }
  | { t: "scribble"; offset: number; bytes: Uint8Array };

const u32Arb = fc.oneof(
  fc.nat({ max: 0xffffffff }),
  fc.integer({ min: -300, max: 300 }).map((d) => d >>> 0),
  fc.integer({ min: -300, max: 300 }).map((d) => (2 ** 31 + d) >>> 0),
);
const hostileOpArb = (total: number): fc.Arbitrary<HostileOp> =>
  fc.oneof(
    {
      arbitrary: fc.record({
        t: fc.constantFrom("front", "back"),
        action: fc.nat(5),
        status: fc.integer({ min: -5, max: 5 }),
      }),
      weight: 8,
    },
    {
      arbitrary: fc.record({
        t: fc.constant("garbage"),
        field: fc.constantFrom(0, 4, 8, 12),
        value: u32Arb,
      }),
      weight: 2,
    },
    // A producer index a little ahead of the honest consumer: within the requests outstanding,
    // beyond them, or beyond RING_SIZE (64 slots here).
    {
      arbitrary: fc.record({
        t: fc.constant("ahead"),
        field: fc.constantFrom(0, 8),
        by: fc.nat(70),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        t: fc.constant("scribble"),
        offset: fc.nat(total - 16),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      }),
      weight: 1,
    },
  ) as fc.Arbitrary<HostileOp>;

describe("a ring under a hostile peer", () => {
  it("agrees with the C model under garbage header indices, halts exactly where the model is fatal, and stays inside the ring", () => {
    const spec = testSpec(40, 12); // 40-byte entries: 64 slots at order 1 crossing the page boundary
    const pool = makePages(2);
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1),
        fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })),
        fc.array(hostileOpArb(4096 * 2), { maxLength: 200 }),
        (order, start, ops) => {
          const raw = pool.slice(0, 1 << order);
          const total = 4096 << order;
          raw.forEach((p) => void p.fill(0));
          const mem = new Uint8Array(total);
          const s = new C.Sring(mem);
          s.req_prod = s.rsp_prod = start;
          s.req_event = s.rsp_event = start + 1;
          raw[0]!.write(0, mem.subarray(0, 16));
          // Every access by the honest ends is checked against the ring area actually in use.
          const limit = 64 + C.__RING_SIZE(total, 40) * 40;
          let accesses = 0;
          const pages = watchPages(raw, (a: Access) => {
            accesses++;
            if (a.start < 0 || a.end > limit)
              throw new Error(`access [${a.start}, ${a.end}) outside the ring (${limit})`);
          });
          const front = FrontRing.attach(pages, spec, start);
          const back = BackRing.attach(pages, spec, start);
          const cf = C.FRONT_RING_ATTACH(s, start, total, 40);
          const cb = C.BACK_RING_ATTACH(s, start, total, 40);
          let n = 0;
          const halted = {
            front: undefined as RingProtocolError | undefined,
            back: undefined as RingProtocolError | undefined,
          };

          for (const op of ops) {
            if (op.t === "garbage") {
              // The peer scribbles a header index: identical in both worlds.
              new DataView(mem.buffer).setUint32(op.field, op.value, true);
              raw[0]!.setU32(op.field, op.value);
              continue;
            }
            if (op.t === "ahead") {
              // The peer sets its producer index `by` past the honest consumer's index.
              const value = ((op.field === 0 ? cb.req_cons : cf.rsp_cons) + op.by) >>> 0;
              new DataView(mem.buffer).setUint32(op.field, value, true);
              raw[0]!.setU32(op.field, value);
              continue;
            }
            if (op.t === "scribble") {
              // The peer scribbles over entries (or the header): identical in both worlds.
              const off = op.offset % total;
              const b = op.bytes.subarray(0, Math.min(op.bytes.length, 4096 - (off & 4095)));
              mem.set(b, off);
              raw[off >> 12]!.write(off & 4095, b);
              continue;
            }
            const side = op.t;
            const err = halted[side];
            if (err !== undefined) {
              // A halted end refuses everything with the same error and touches no memory.
              const before = accesses;
              const attempt =
                side === "front" ? () => front.consumeResponse() : () => back.consumeRequest();
              expect(attempt).toThrow(err);
              expect(() =>
                side === "front"
                  ? front.pushRequestsAndCheckNotify()
                  : back.finalCheckForRequests(),
              ).toThrow(err);
              expect(accesses).toBe(before);
              continue;
            }
            try {
              if (side === "front") {
                switch (op.action) {
                  case 0:
                  case 1:
                    if (C.RING_FULL(cf)) break;
                    C.produceRequest(cf, reqBytes(n));
                    front.produceRequest({ id: n, payload: filler(n, 36) });
                    n++;
                    break;
                  case 2:
                    expect(front.pushRequestsAndCheckNotify()).toBe(
                      C.RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(cf),
                    );
                    break;
                  case 3:
                  case 4: {
                    const m = C.consumeResponse(cf, 12);
                    if (m === "fatal") {
                      expect(() => front.consumeResponse()).toThrow(RingProtocolError);
                      halted.front = front.halted;
                      expect(halted.front?.reason).toBe(C.responseProdFault(cf, s.rsp_prod));
                    } else {
                      const got = front.consumeResponse();
                      if (m === "none") expect(got).toBeUndefined();
                      else expect(got).toEqual(spec.response.decode(reader(m)));
                    }
                    break;
                  }
                  default:
                    expect(front.finalCheckForResponses()).toBe(
                      C.RING_FINAL_CHECK_FOR_RESPONSES(cf),
                    );
                }
              } else {
                switch (op.action) {
                  case 0:
                  case 1: {
                    expect(back.unconsumedRequests).toBe(C.RING_HAS_UNCONSUMED_REQUESTS(cb));
                    const m = C.consumeRequest(cb, 40);
                    if (m === "fatal") {
                      expect(() => back.consumeRequest()).toThrow(RingProtocolError);
                      halted.back = back.halted;
                      expect(halted.back?.code).toBe("ERR_RING_REQ_PROD_OVERFLOW");
                    } else {
                      const got = back.consumeRequest();
                      if (m === "none") expect(got).toBeUndefined();
                      else expect(got).toEqual(spec.request.decode(reader(m)));
                    }
                    break;
                  }
                  case 2:
                  case 3: {
                    if (C.u32(cb.req_cons - cb.rsp_prod_pvt) === 0) break;
                    const rsp = {
                      id: cb.rsp_prod_pvt,
                      status: op.status,
                      payload: filler(cb.rsp_prod_pvt, 6),
                    };
                    C.produceResponse(cb, rspBytes(rsp.id, rsp.status, rsp.payload));
                    back.produceResponse(rsp);
                    break;
                  }
                  case 4:
                    expect(back.pushResponsesAndCheckNotify()).toBe(
                      C.RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(cb),
                    );
                    break;
                  default:
                    expect(back.finalCheckForRequests()).toBe(C.RING_FINAL_CHECK_FOR_REQUESTS(cb));
                }
              }
            } catch (e) {
              // Nothing but a typed protocol error may escape, and only where the model was fatal.
              expect(e).toBeInstanceOf(RingProtocolError);
              throw e;
            }
            expect(firstDiff(snapshot(raw), mem)).toBe(-1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("halts the backend with ERR_RING_REQ_PROD_OVERFLOW naming the indices when req_prod runs more than RING_SIZE ahead", () => {
    const spec = testSpec(112, 16); // 32 slots
    const pages = makePages(1);
    const front = FrontRing.init(pages, spec);
    const back = BackRing.attach(pages, spec);
    front.produceRequest({ id: 7, payload: filler(7, 108) });
    front.pushRequestsAndCheckNotify();
    expect(back.consumeRequest()?.id).toBe(7);
    // Exactly RING_SIZE requests beyond rsp_prod_pvt is still legal (the capped count says 31 more).
    pages[0]!.setU32(0, 32);
    expect(back.unconsumedRequests).toBe(31);
    // One more is an overflow: fatal.
    pages[0]!.setU32(0, 33);
    let err: unknown;
    try {
      back.consumeRequest();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RingProtocolError);
    const e = err as RingProtocolError;
    expect(e.code).toBe("ERR_RING_REQ_PROD_OVERFLOW");
    expect(e.fault).toEqual({
      reason: "req-prod-overflow",
      req_prod: 33,
      req_cons: 1,
      rsp_prod_pvt: 0,
      RING_SIZE: 32,
    });
    expect(e.message).toContain("req_prod=0x00000021");
    expect(e.message).toContain("req_cons=0x00000001");
    expect(e.message).toContain("rsp_prod_pvt=0x00000000");
    expect(e.message).toContain("RING_SIZE=32");
    // Halted: the same error for every operation, even after the peer "repairs" the index.
    pages[0]!.setU32(0, 1);
    expect(back.halted).toBe(e);
    expect(() => back.consumeRequest()).toThrow(e);
    expect(() => back.produceResponse({ id: 7, status: 0, payload: new Uint8Array(10) })).toThrow(
      e,
    );
    expect(() => back.pushResponsesAndCheckNotify()).toThrow(e);
    expect(() => back.finalCheckForRequests()).toThrow(e);
    expect(() => back.unconsumedRequests).toThrow(e);
  });

  it("halts the frontend with ERR_RING_RSP_PROD_OVERFLOW when rsp_prod runs more than RING_SIZE ahead", () => {
    const spec = testSpec(112, 16);
    const pages = makePages(1);
    const front = FrontRing.attach(pages, spec, 0xfffffff0);
    pages[0]!.setU32(8, 0xfffffff0 + 33 - 2 ** 32); // rsp_prod wrapped to 0x11: 33 ahead of rsp_cons
    expect(() => front.consumeResponse()).toThrow(RingProtocolError);
    const e = front.halted!;
    expect(e.code).toBe("ERR_RING_RSP_PROD_OVERFLOW");
    expect(e.fault).toEqual({
      reason: "rsp-prod-overflow",
      rsp_prod: 0x11,
      rsp_cons: 0xfffffff0,
      req_prod_pvt: 0xfffffff0,
      RING_SIZE: 32,
    });
    expect(e.message).toMatch(/rsp_prod=0x00000011.*rsp_cons=0xfffffff0.*RING_SIZE=32/);
    expect(() => front.produceRequest({ id: 1, payload: new Uint8Array(108) })).toThrow(e);
    expect(() => front.finalCheckForResponses()).toThrow(e);
  });

  it("leaves other rings working when one ring halts", () => {
    const spec = testSpec(112, 16);
    const pages = makePages(2);
    const [fa, ba] = [FrontRing.init([pages[0]!], spec), BackRing.attach([pages[0]!], spec)];
    const [fb, bb] = [FrontRing.init([pages[1]!], spec), BackRing.attach([pages[1]!], spec)];
    pages[0]!.setU32(0, 1000); // hostile frontend on ring A
    expect(() => ba.consumeRequest()).toThrow(RingProtocolError);
    fb.produceRequest({ id: 5, payload: filler(5, 108) });
    expect(fb.pushRequestsAndCheckNotify()).toBe(true);
    expect(bb.consumeRequest()?.id).toBe(5);
    bb.produceResponse({ id: 5, status: 0, payload: new Uint8Array(10) });
    expect(bb.pushResponsesAndCheckNotify()).toBe(true);
    expect(fb.consumeResponse()?.id).toBe(5);
    expect(fa.halted).toBeUndefined();
    expect(bb.halted).toBeUndefined();
  });

  it("uses its private copy when the frontend rewrites a request after it was fetched (XSA-155)", () => {
    // A lazy codec: the decoded object reads fields from the EntryReader on demand, and validate
    // reads nr_segments twice around the frontend's rewrite (the check, then the use). If the
    // reader aliased the shared page, the second read would see the rewrite.
    interface LazyReq {
      readonly id: number;
      readonly nr_segments: number;
    }
    const pages = makePages(1);
    let reads = 0;
    const watched = watchPages(pages, (a) => {
      if (a.kind === "read" && a.start >= 64) reads++;
    });
    let rewrite = (): void => {};
    const used: number[] = [];
    const request: RingCodec<LazyReq> = {
      size: 16,
      encode: (v, out) => {
        out.setU32(0, v.id);
        out.setU8(4, v.nr_segments);
      },
      decode: (input) => ({
        get id() {
          return input.getU32(0);
        },
        get nr_segments() {
          return input.getU8(4);
        },
      }),
      validate: (v) => {
        if (v.nr_segments > 11) return `nr_segments ${v.nr_segments} > 11`;
        rewrite(); // the hostile frontend strikes right after the check...
        used.push(v.nr_segments); // ...and before the use
        return undefined;
      },
    };
    const spec: RingSpec<LazyReq, { id: number }> = {
      request,
      response: {
        size: 8,
        encode: (v, out) => out.setU32(0, v.id),
        decode: (i) => ({ id: i.getU32(0) }),
      },
    };
    const front = FrontRing.init(pages, spec);
    const back = BackRing.attach(watched, spec);
    front.produceRequest({ id: 1, nr_segments: 11 });
    front.pushRequestsAndCheckNotify();
    rewrite = () => pages[0]!.setU8(64 + 4, 255);
    back.consumeRequest();
    expect(pages[0]!.getU8(64 + 4)).toBe(255); // the page did change...
    expect(used).toEqual([11]); // ...but the backend uses what it validated
    expect(reads).toBe(1); // one copy of the entry, never a second fetch
  });

  it("reports an invalid request without halting the backend, and goes on to the next one", () => {
    const { front, back } = refusing666();
    for (const id of [1, 666, 2]) front.produceRequest({ id, payload: filler(id, 12) });
    front.pushRequestsAndCheckNotify();
    expect(back.consumeRequest()?.id).toBe(1);
    const err = ringErrorOf(() => back.consumeRequest());
    expect(err?.code).toBe("ERR_RING_INVALID_ENTRY");
    expect(err?.fault).toMatchObject({
      reason: "invalid-entry",
      kind: "request",
      index: 1,
      detail: "id 666 is forbidden",
    });
    const f = err?.fault;
    if (f?.reason !== "invalid-entry") throw new Error("unreachable");
    expect(f.value).toEqual({ id: 666, payload: filler(666, 12) }); // enough to answer with an error status
    expect([...f.bytes.subarray(0, 4)]).toEqual([0x9a, 0x02, 0, 0]);
    expect(back.halted).toBeUndefined();
    expect(back.reqCons).toBe(2); // consumed: a loop cannot spin on it
    expect(back.consumeRequest()?.id).toBe(2);
    back.produceResponse({ id: 1, status: 0, payload: new Uint8Array(2) });
    back.produceResponse({ id: 666, status: -95, payload: new Uint8Array(2) });
    expect(back.pushResponsesAndCheckNotify()).toBe(true);
  });

  it("halts the frontend on an invalid response by default, and only reports it when asked", () => {
    const base = testSpec(16, 8);
    const spec: typeof base = {
      ...base,
      response: {
        ...base.response,
        decode: (i) => {
          if (i.getS16(4) < -200) throw new RangeError(`status ${i.getS16(4)} out of range`);
          return base.response.decode(i);
        },
      },
    };
    for (const mode of ["halt", "report"] as const) {
      const pages = makePages(1);
      const front = FrontRing.init(
        pages,
        spec,
        mode === "report" ? { onInvalidEntry: "report", name: "vif0" } : { name: "vif0" },
      );
      const back = BackRing.attach(pages, spec);
      front.produceRequest({ id: 1, payload: new Uint8Array(12) });
      front.produceRequest({ id: 2, payload: new Uint8Array(12) });
      front.pushRequestsAndCheckNotify();
      back.consumeRequest();
      back.consumeRequest();
      back.produceResponse({ id: 1, status: -1000, payload: new Uint8Array(2) });
      back.produceResponse({ id: 2, status: 0, payload: new Uint8Array(2) });
      back.pushResponsesAndCheckNotify();
      const err = ringErrorOf(() => front.consumeResponse());
      expect(err?.code).toBe("ERR_RING_INVALID_ENTRY");
      expect(err?.message).toBe(
        "vif0: invalid response at index 0x00000000: status -1000 out of range",
      );
      expect(err?.cause).toBeInstanceOf(RangeError);
      if (mode === "halt") {
        expect(front.halted).toBe(err);
        expect(() => front.consumeResponse()).toThrow(err);
      } else {
        expect(front.halted).toBeUndefined();
        expect(front.consumeResponse()?.id).toBe(2);
      }
    }
  });
});

function reqBytes(n: number): Uint8Array {
  const b = new Uint8Array(40);
  new DataView(b.buffer).setUint32(0, n, true);
  b.set(filler(n, 36), 4);
  return b;
}
function rspBytes(id: number, status: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, id, true);
  dv.setInt16(4, status, true);
  b.set(payload, 6);
  return b;
}
/** An EntryReader over model bytes, to decode what the model consumed. */
function reader(bytes: Uint8Array) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    size: bytes.length,
    getU8: (o: number) => dv.getUint8(o),
    getU16: (o: number) => dv.getUint16(o, true),
    getU32: (o: number) => dv.getUint32(o, true),
    getU64: (o: number) => Number(dv.getBigUint64(o, true)),
    getS8: (o: number) => dv.getInt8(o),
    getS16: (o: number) => dv.getInt16(o, true),
    getS32: (o: number) => dv.getInt32(o, true),
    read: (o: number, l: number) => bytes.slice(o, o + l),
  };
}
