// The xsd_sockmsg codec: golden bytes, incremental parsing and the 4096-byte limit.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { OVERSIZE, XsMessageParser, decodeHeader, decodeMessages, encodeMessage } from "@pvkit/toolstack";

describe("wire codec", () => {
  it("encodes the header as four little-endian u32s followed by the payload", () => {
    const bytes = encodeMessage({ type: 2, req_id: 0x01020304, tx_id: 5, payload: new Uint8Array([0x2f, 0]) });
    expect([...bytes]).toEqual([2, 0, 0, 0, 4, 3, 2, 1, 5, 0, 0, 0, 2, 0, 0, 0, 0x2f, 0]);
    expect(decodeHeader(bytes)).toEqual({ type: 2, req_id: 0x01020304, tx_id: 5, len: 2 });
  });
  it("rejects header values that are not u32 with RangeError", () => {
    expect(() => encodeMessage({ type: -1, req_id: 0, tx_id: 0, payload: new Uint8Array() })).toThrow(RangeError);
    expect(() => encodeMessage({ type: 0, req_id: 2 ** 32, tx_id: 0, payload: new Uint8Array() })).toThrow(RangeError);
    expect(() => decodeMessages(new Uint8Array(10))).toThrow(RangeError);
  });
  it("parses any split of a message stream into the same messages", () => {
    const msg = fc.record({
      type: fc.integer({ min: 0, max: 30 }),
      req_id: fc.nat(),
      tx_id: fc.nat(),
      payload: fc.uint8Array({ maxLength: 64 }),
    });
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1 }), (msgs, cuts) => {
        const stream = new Uint8Array(msgs.flatMap((m) => [...encodeMessage(m)]));
        const p = new XsMessageParser();
        const got = [];
        let off = 0;
        for (let i = 0; off < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          p.push(stream.subarray(off, off + n));
          off += n;
          for (let m = p.next(); m !== undefined; m = p.next()) {
            expect(m).not.toBe(OVERSIZE);
            got.push(m);
          }
        }
        expect(got).toEqual(msgs);
        expect(p.buffered).toBe(0);
      }),
    );
  });
  it("reports OVERSIZE for a header with len 4097, forever after, but not for 4096", () => {
    const p = new XsMessageParser();
    const ok = encodeMessage({ type: 2, req_id: 0, tx_id: 0, payload: new Uint8Array(4096) });
    p.push(ok);
    expect(p.next()).not.toBe(OVERSIZE);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(12, 4097, true);
    p.push(bad);
    expect(p.next()).toBe(OVERSIZE);
    p.push(ok);
    expect(p.next()).toBe(OVERSIZE);
  });
});
