// The xsd_sockmsg codec of the client (io/xs_wire.h) and permission strings
// (docs/misc/xenstore.txt).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  XS_OVERSIZE,
  XsMessageAssembler,
  encodeXsMessage,
  formatPermission,
  nulJoin,
  nulSplit,
  parsePermission,
  type XsWireMessage,
} from "@pvkit/guest-sdk";

describe("encodeXsMessage", () => {
  it("writes the 16-byte little-endian header then the payload", () => {
    const b = encodeXsMessage({ type: 2, req_id: 0x01020304, tx_id: 7, payload: Uint8Array.from([0x61, 0]) });
    // prettier-ignore
    expect(b).toStrictEqual(Uint8Array.from([
      2, 0, 0, 0,  4, 3, 2, 1,  7, 0, 0, 0,  2, 0, 0, 0,  0x61, 0,
    ]));
  });

  it("accepts a 4096-byte payload and refuses 4097 or a header field that is not a u32", () => {
    expect(encodeXsMessage({ type: 11, req_id: 1, tx_id: 0, payload: new Uint8Array(4096) })).toHaveLength(4112);
    expect(() => encodeXsMessage({ type: 11, req_id: 1, tx_id: 0, payload: new Uint8Array(4097) })).toThrow(RangeError);
    expect(() => encodeXsMessage({ type: 11, req_id: 2 ** 32, tx_id: 0, payload: new Uint8Array(0) })).toThrow(RangeError);
    expect(() => encodeXsMessage({ type: -1, req_id: 0, tx_id: 0, payload: new Uint8Array(0) })).toThrow(RangeError);
  });
});

describe("XsMessageAssembler", () => {
  const message = fc.record({
    type: fc.integer({ min: 0, max: 22 }),
    req_id: fc.nat(),
    tx_id: fc.nat(),
    payload: fc.uint8Array({ maxLength: 300 }),
  });

  it("reassembles any sequence of messages however the byte stream is cut", () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1 }), (msgs, cuts) => {
        const stream = Buffer.concat(msgs.map((m) => encodeXsMessage(m)));
        const asm = new XsMessageAssembler();
        const got: XsWireMessage[] = [];
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
        const plain = (ms: readonly XsWireMessage[]) => ms.map((m) => [m.type, m.req_id, m.tx_id, [...m.payload]]);
        expect(plain(got)).toEqual(plain(msgs));
        expect(asm.partial).toBe(0);
      }),
    );
  });

  it("reports a header announcing more than 4096 bytes, for good", () => {
    const asm = new XsMessageAssembler();
    const ok = encodeXsMessage({ type: 2, req_id: 1, tx_id: 0, payload: Uint8Array.from([1]) });
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(12, 4097, true);
    asm.push(Buffer.concat([ok, bad, ok]));
    expect(asm.next()).toMatchObject({ req_id: 1 });
    expect(asm.next()).toBe(XS_OVERSIZE);
    expect(asm.next()).toBe(XS_OVERSIZE);
  });

  it("delivers an empty-payload message as soon as its header is complete", () => {
    const asm = new XsMessageAssembler();
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

describe("permission strings", () => {
  it("parses and formats the four letters", () => {
    expect(["n0", "r5", "w12", "b65535"].map(parsePermission)).toEqual([
      { domid: 0, access: "none" },
      { domid: 5, access: "read" },
      { domid: 12, access: "write" },
      { domid: 65535, access: "both" },
    ]);
    expect(formatPermission({ domid: 3, access: "both" })).toBe("b3");
    expect(formatPermission("r7")).toBe("r7");
  });

  it("refuses malformed entries with RangeError", () => {
    for (const s of ["x1", "r", "r-1", "r65536", "r1a", ""]) expect(() => parsePermission(s), s).toThrow(RangeError);
    expect(() => formatPermission({ domid: 70000, access: "read" })).toThrow(RangeError);
    expect(() => formatPermission({ domid: 1, access: "all" as never })).toThrow(RangeError);
  });
});
