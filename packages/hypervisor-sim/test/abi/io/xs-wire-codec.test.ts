// The one xsd_sockmsg codec (io/xs_wire.h) that the guest's client and xenstored share: golden
// bytes, incremental parsing of a stream cut anywhere, the 4096-byte limit and the NUL-separated
// byte strings of payloads.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  XS_OVERSIZE,
  XsMessageParser,
  decodeXsHeader,
  decodeXsMessages,
  encodeXsMessage,
  nulJoin,
  nulSplit,
  xsBytes,
  xsString,
  type XsMessage,
} from "@pvkit/hypervisor-sim/abi";

describe("wire codec", () => {
  it("encodes the header as four little-endian u32s followed by the payload", () => {
    const bytes = encodeXsMessage({
      type: 2,
      req_id: 0x01020304,
      tx_id: 5,
      payload: new Uint8Array([0x2f, 0]),
    });
    expect([...bytes]).toEqual([2, 0, 0, 0, 4, 3, 2, 1, 5, 0, 0, 0, 2, 0, 0, 0, 0x2f, 0]);
    expect(decodeXsHeader(bytes)).toEqual({ type: 2, req_id: 0x01020304, tx_id: 5, len: 2 });
  });
  it("rejects header values that are not u32 with RangeError", () => {
    expect(() =>
      encodeXsMessage({ type: -1, req_id: 0, tx_id: 0, payload: new Uint8Array() }),
    ).toThrow(RangeError);
    expect(() =>
      encodeXsMessage({ type: 0, req_id: 2 ** 32, tx_id: 0, payload: new Uint8Array() }),
    ).toThrow(RangeError);
    expect(() => decodeXsMessages(new Uint8Array(10))).toThrow(RangeError);
  });
  it("parses any split of a message stream into the same messages", () => {
    const msg = fc.record({
      type: fc.integer({ min: 0, max: 30 }),
      req_id: fc.nat(),
      tx_id: fc.nat(),
      payload: fc.uint8Array({ maxLength: 64 }),
    });
    fc.assert(
      fc.property(
        fc.array(msg, { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1 }),
        (msgs, cuts) => {
          const stream = new Uint8Array(msgs.flatMap((m) => [...encodeXsMessage(m)]));
          const p = new XsMessageParser();
          const got = [];
          let off = 0;
          for (let i = 0; off < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            p.push(stream.subarray(off, off + n));
            off += n;
            for (let m = p.next(); m !== undefined; m = p.next()) {
              expect(m).not.toBe(XS_OVERSIZE);
              got.push(m);
            }
          }
          expect(got).toEqual(msgs);
          expect(p.buffered).toBe(0);
        },
      ),
    );
  });
  it("reports OVERSIZE for a header with len 4097, forever after, but not for 4096", () => {
    const p = new XsMessageParser();
    const ok = encodeXsMessage({ type: 2, req_id: 0, tx_id: 0, payload: new Uint8Array(4096) });
    p.push(ok);
    expect(p.next()).not.toBe(XS_OVERSIZE);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(12, 4097, true);
    p.push(bad);
    expect(p.next()).toBe(XS_OVERSIZE);
    p.push(ok);
    expect(p.next()).toBe(XS_OVERSIZE);
  });
});

describe("encodeXsMessage", () => {
  it("writes the 16-byte little-endian header then the payload", () => {
    const b = encodeXsMessage({
      type: 2,
      req_id: 0x01020304,
      tx_id: 7,
      payload: Uint8Array.from([0x61, 0]),
    });
    // prettier-ignore
    expect(b).toStrictEqual(
      Uint8Array.from([2, 0, 0, 0, 4, 3, 2, 1, 7, 0, 0, 0, 2, 0, 0, 0, 0x61, 0]),
    );
  });

  it("accepts a 4096-byte payload and refuses 4097 or a header field that is not a u32", () => {
    expect(
      encodeXsMessage({ type: 11, req_id: 1, tx_id: 0, payload: new Uint8Array(4096) }),
    ).toHaveLength(4112);
    expect(() =>
      encodeXsMessage({ type: 11, req_id: 1, tx_id: 0, payload: new Uint8Array(4097) }),
    ).toThrow(RangeError);
    expect(() =>
      encodeXsMessage({ type: 11, req_id: 2 ** 32, tx_id: 0, payload: new Uint8Array(0) }),
    ).toThrow(RangeError);
    expect(() =>
      encodeXsMessage({ type: -1, req_id: 0, tx_id: 0, payload: new Uint8Array(0) }),
    ).toThrow(RangeError);
  });
});

describe("XsMessageParser, with ring-sized cuts", () => {
  const message = fc.record({
    type: fc.integer({ min: 0, max: 22 }),
    req_id: fc.nat(),
    tx_id: fc.nat(),
    payload: fc.uint8Array({ maxLength: 300 }),
  });

  it("reassembles any sequence of messages however the byte stream is cut", () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1 }),
        (msgs, cuts) => {
          const stream = Buffer.concat(msgs.map((m) => encodeXsMessage(m)));
          const asm = new XsMessageParser();
          const got: XsMessage[] = [];
          let off = 0;
          for (let i = 0; off < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            asm.push(new Uint8Array(stream.subarray(off, off + n)));
            off += n;
            for (let m = asm.next(); m !== undefined; m = asm.next()) {
              if (m === XS_OVERSIZE) throw new Error("oversize");
              got.push(m);
            }
          }
          const plain = (ms: readonly XsMessage[]) =>
            ms.map((m) => [m.type, m.req_id, m.tx_id, [...m.payload]]);
          expect(plain(got)).toEqual(plain(msgs));
          expect(asm.buffered).toBe(0);
        },
      ),
    );
  });

  it("reports a header announcing more than 4096 bytes, for good", () => {
    const asm = new XsMessageParser();
    const ok = encodeXsMessage({ type: 2, req_id: 1, tx_id: 0, payload: Uint8Array.from([1]) });
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(12, 4097, true);
    asm.push(Buffer.concat([ok, bad, ok]));
    expect(asm.next()).toMatchObject({ req_id: 1 });
    expect(asm.next()).toBe(XS_OVERSIZE);
    expect(asm.next()).toBe(XS_OVERSIZE);
  });

  it("delivers an empty-payload message as soon as its header is complete", () => {
    const asm = new XsMessageParser();
    const m = encodeXsMessage({ type: 6, req_id: 9, tx_id: 0, payload: new Uint8Array(0) });
    asm.push(m.subarray(0, 15));
    expect(asm.next()).toBeUndefined();
    asm.push(m.subarray(15));
    expect(asm.next()).toStrictEqual({ type: 6, req_id: 9, tx_id: 0, payload: new Uint8Array(0) });
  });
});

describe("NUL-separated strings", () => {
  it("joins arguments each followed by NUL, or leaves the last bare (WRITE's value)", () => {
    expect(Buffer.from(nulJoin(["/a", "tok"])).toString("latin1")).toBe("/a\0tok\0");
    expect(Buffer.from(nulJoin(["/a", "v"], false)).toString("latin1")).toBe("/a\0v");
    expect(Buffer.from(nulJoin(["/a", ""], false)).toString("latin1")).toBe("/a\0");
    expect(Buffer.from(nulJoin([""])).toString("latin1")).toBe("\0");
  });

  it("splits replies into strings", () => {
    expect(nulSplit(Buffer.from("a\0bb\0", "latin1"))).toEqual(["a", "bb"]);
    expect(nulSplit(new Uint8Array(0))).toEqual([]);
    expect(nulSplit(Buffer.from("a\0\0", "latin1"))).toEqual(["a", ""]);
  });
});

describe("byte strings", () => {
  it("map every byte to one char and back, also for a range of the array", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const s = xsString(all);
    expect(s.length).toBe(256);
    expect(s.charCodeAt(0xff)).toBe(0xff);
    expect(xsBytes(s)).toStrictEqual(all);
    expect(xsString(all, 0x41, 0x44)).toBe("ABC");
    expect(xsString(all, 5, 5)).toBe("");
    expect(xsString(new Uint8Array(20000).fill(0x61))).toBe("a".repeat(20000));
  });

  it("refuse a char above U+00FF instead of truncating it", () => {
    expect(() => xsBytes("a\u0141")).toThrow(RangeError);
    expect(() => nulJoin(["/a", "\u20ac"])).toThrow(RangeError);
  });
});

describe("XsMessageParser.wanted", () => {
  it("says how many bytes complete the current message: header first, then payload", () => {
    const p = new XsMessageParser();
    const m = encodeXsMessage({
      type: 2,
      req_id: 1,
      tx_id: 0,
      payload: Uint8Array.from([0x2f, 0x61, 0]),
    });
    expect(p.wanted).toBe(16);
    p.push(m.subarray(0, 10));
    expect(p.wanted).toBe(6);
    p.push(m.subarray(10, 16));
    expect(p.wanted).toBe(3);
    expect(p.next()).toBeUndefined();
    p.push(m.subarray(16));
    expect(p.wanted).toBe(0);
    expect(p.next()).toMatchObject({ type: 2, req_id: 1 });
    expect(p.wanted).toBe(16);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(12, 4097, true);
    p.push(bad);
    expect(p.next()).toBe(XS_OVERSIZE);
    expect(p.wanted).toBe(0);
  });
});
