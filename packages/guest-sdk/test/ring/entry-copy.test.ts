/**
 * The private memory a ring end encodes into and decodes from (src/ring/entry-copy.ts and
 * RingCore): one buffer each way, reused for every entry, and these tests pin down that the reuse
 * is invisible or loud — a decoded value never changes after later consumes, a reader kept past
 * its decode throws instead of showing a later entry, error reports keep the bytes that were
 * read, the codec cannot write the copy it validates, and each produced entry starts from zeros.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BackRing,
  ClosedEntryReaderError,
  FrontRing,
  type EntryReader,
  type RingCodec,
  type RingSpec,
} from "@pvkit/guest-sdk";
import { filler, makePages, refusing666, ringErrorOf } from "./helpers.js";

interface Req {
  readonly id: number;
  readonly tail: Uint8Array;
}

const REQ = 112;
/** An eager request codec whose `tail` is a `read()` of the private copy. */
const request: RingCodec<Req> = {
  size: REQ,
  encode: (v, out) => {
    out.setU32(0, v.id);
    out.write(4, v.tail);
  },
  decode: (input) => ({ id: input.getU32(0), tail: input.read(4, REQ - 4) }),
};
const eagerSpec: RingSpec<Req, { id: number }> = {
  request,
  response: {
    size: 8,
    encode: (v, out) => out.setU32(0, v.id),
    decode: (i) => ({ id: i.getU32(0) }),
  },
};

describe("private entry copies", () => {
  it("keeps every decoded value unchanged across later consumes, ring wraps and u32 wraps", () => {
    const pages = makePages(1);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant(0),
          fc.constant(0xffffff00),
          fc.constant(0x7fffff80),
          fc.nat({ max: 0xffffffff }),
        ),
        fc.array(fc.integer({ min: 1, max: 32 }), { minLength: 1, maxLength: 40 }),
        (start, bursts) => {
          pages[0]!.fill(0);
          const front = FrontRing.attach(pages, eagerSpec, start);
          const back = BackRing.attach(pages, eagerSpec, start);
          pages[0]!.setU32(0, start);
          pages[0]!.setU32(8, start);
          const kept: { n: number; req: Req }[] = [];
          let n = 0;
          for (const burst of bursts) {
            for (let i = 0; i < burst; i++, n++)
              front.produceRequest({ id: n, tail: filler(n, REQ - 4) });
            front.pushRequestsAndCheckNotify();
            for (let req = back.consumeRequest(); req !== undefined; req = back.consumeRequest()) {
              kept.push({ n: kept.length, req });
              back.produceResponse({ id: req.id });
            }
            back.pushResponsesAndCheckNotify();
            while (front.consumeResponse() !== undefined);
          }
          expect(kept.length).toBe(n);
          // Every slot of the shared ring has been rewritten many times by now.
          for (const { n: k, req } of kept) {
            expect(req.id).toBe(k);
            expect(req.tail).toEqual(filler(k, REQ - 4));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("closes the reader when the consume returns: a value that kept it throws instead of reading a later entry", () => {
    const lazy: RingSpec<{ readonly id: number }, { id: number }> = {
      request: {
        size: 16,
        encode: (v, out) => out.setU32(0, v.id),
        decode: (input) => ({
          get id() {
            return input.getU32(0);
          },
        }),
        // validate runs while the reader is still open: a lazy value can be checked.
        validate: (v) => (v.id === 666 ? "id 666 is forbidden" : undefined),
      },
      response: eagerSpec.response,
    };
    const pages = makePages(1);
    const front = FrontRing.init(pages, lazy);
    const back = BackRing.attach(pages, lazy);
    front.produceRequest({ id: 1 });
    front.produceRequest({ id: 666 });
    front.pushRequestsAndCheckNotify();
    const first = back.consumeRequest()!;
    expect(() => first.id).toThrow(ClosedEntryReaderError);
    expect(() => back.consumeRequest()).toThrow(/id 666 is forbidden/);
    // Even after a later entry was copied into the same buffer, the first value does not show it.
    expect(() => first.id).toThrow(/used after its decode returned/);
  });

  it("gives the codec a reader it cannot write through, so validation sees exactly what was copied", () => {
    let seen: EntryReader | undefined;
    const outOfRange: unknown[] = [];
    const attempt = (f: () => unknown): void => {
      try {
        f();
      } catch (e) {
        outOfRange.push(e);
      }
    };
    const spec: RingSpec<{ id: number }, { id: number }> = {
      request: {
        size: 16,
        encode: (v, out) => out.setU32(0, v.id),
        decode: (input) => {
          seen = input;
          attempt(() => input.getU32(13)); // bounded by the codec's size
          attempt(() => input.getU8(-1));
          attempt(() => input.read(0, 17));
          return { id: input.getU32(0) };
        },
      },
      response: eagerSpec.response,
    };
    const pages = makePages(1);
    const front = FrontRing.init(pages, spec);
    const back = BackRing.attach(pages, spec);
    front.produceRequest({ id: 9 });
    front.pushRequestsAndCheckNotify();
    expect(back.consumeRequest()).toEqual({ id: 9 });
    const anyReader = seen as unknown as Record<string, unknown>;
    for (const setter of ["setU8", "setU16", "setU32", "setU64", "write", "bytes"])
      expect(anyReader[setter]).toBeUndefined();
    expect(outOfRange).toHaveLength(3);
    for (const e of outOfRange) expect(e).toBeInstanceOf(RangeError);
  });

  it("reports the bytes of an invalid entry as read, unchanged by later consumes", () => {
    const { front, back } = refusing666();
    front.produceRequest({ id: 666, payload: filler(666, 12) });
    front.pushRequestsAndCheckNotify();
    const err = ringErrorOf(() => back.consumeRequest());
    const f = err?.fault;
    if (f?.reason !== "invalid-entry")
      throw new Error(`expected an invalid-entry fault, got ${String(err)}`);
    const expected = new Uint8Array(16);
    new DataView(expected.buffer).setUint32(0, 666, true);
    expected.set(filler(666, 12), 4);
    expect(f.bytes).toEqual(expected);
    // Push the ring round more than once with other entries; the report must not move.
    back.produceResponse({ id: 666, status: -1, payload: new Uint8Array(2) });
    back.pushResponsesAndCheckNotify();
    front.consumeResponse();
    for (let round = 0; round < 3 * front.size; round++) {
      front.produceRequest({ id: round, payload: filler(round, 12, 1) });
      front.pushRequestsAndCheckNotify();
      expect(back.consumeRequest()?.id).toBe(round);
      back.produceResponse({ id: round, status: 0, payload: new Uint8Array(2) });
      back.pushResponsesAndCheckNotify();
      front.consumeResponse();
    }
    expect(f.bytes).toEqual(expected);
    expect(f.value).toEqual({ id: 666, payload: filler(666, 12) });
  });

  it("encodes every entry from zeros, whatever the previous entry left in the private buffer", () => {
    const spec: RingSpec<{ id: number; fill?: number }, { id: number }> = {
      request: {
        size: 24,
        encode: (v, out) => {
          out.setU32(0, v.id);
          // Bytes 4..22 get the low byte of `fill`, byte 23 all of it (so fill > 255 throws last).
          if (v.fill !== undefined)
            for (let o = 4; o < 24; o++) out.setU8(o, o < 23 ? v.fill & 0xff : v.fill);
        },
        decode: (input) => ({ id: input.getU32(0) }),
      },
      response: eagerSpec.response,
    };
    const pages = makePages(1);
    const front = FrontRing.init(pages, spec);
    pages[0]!.fill(0xaa, 64, 2 * 24); // stale bytes in slots 0 and 1 of the shared ring
    front.produceRequest({ id: 1, fill: 0xff });
    front.produceRequest({ id: 2 }); // writes only its id: the rest must be zero, not 0xff
    expect([...pages[0]!.read(64 + 4, 20)]).toEqual(new Array(20).fill(0xff));
    expect([...pages[0]!.read(64 + 24, 4)]).toEqual([2, 0, 0, 0]);
    expect([...pages[0]!.read(64 + 28, 20)]).toEqual(new Array(20).fill(0));
    // A failed encode publishes nothing and does not leak into the next entry.
    expect(() => front.produceRequest({ id: 3, fill: 0x1ee })).toThrow(RangeError); // after writing 0xee bytes
    expect(front.reqProdPvt).toBe(2);
    front.produceRequest({ id: 4 });
    expect([...pages[0]!.read(64 + 48, 24)]).toEqual([4, 0, 0, 0, ...new Array(20).fill(0)]);
  });
});
