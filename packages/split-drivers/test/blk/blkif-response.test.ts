// struct blkif_response (io/blkif.h): id u64 @0, operation u8 @8, status s16 @10; 16 bytes on
// x86_64 (pad at 9 and 12..15), 12 on i386 (pad at 9).
import { describe, expect, it } from "vitest";
import { BLKIF_RSP } from "@pvkit/hypervisor-sim/abi";
import {
  BLKIF_PROTOCOLS,
  blkifWire,
  decodeBlkifResponse,
  encodeBlkifResponse,
} from "@pvkit/split-drivers";
import { entry, ringPair } from "./helpers.js";

const CANARY = 0xa5;

describe("blkif response encoding", () => {
  it("lays out a response in 16 bytes on x86_64 and 12 on x86_32 (golden bytes)", () => {
    const rsp = { id: 0x42, operation: 1, status: BLKIF_RSP.BLKIF_RSP_ERROR };
    for (const [protocol, want] of [
      ["x86_64-abi", [0x42, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0]],
      ["x86_32-abi", [0x42, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0xff, 0xff]],
    ] as const) {
      const wire = blkifWire(protocol);
      const out = entry(wire.responseSize);
      encodeBlkifResponse(rsp, out, wire);
      expect([...out.bytes]).toStrictEqual(want);
    }
  });

  it("writes EOPNOTSUPP as fe ff and a bigint id exactly", () => {
    const wire = blkifWire("x86_64-abi");
    const out = entry(16);
    encodeBlkifResponse(
      { id: 0xffff_8000_0000_1000n, operation: 3, status: BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP },
      out,
      wire,
    );
    expect([...out.bytes]).toStrictEqual([
      0x00, 0x10, 0, 0, 0x00, 0x80, 0xff, 0xff, 0x03, 0, 0xfe, 0xff, 0, 0, 0, 0,
    ]);
    expect(decodeBlkifResponse(out, wire)).toStrictEqual({
      id: 0xffff_8000_0000_1000n,
      operation: 3,
      status: -2,
    });
  });

  it("throws RangeError for a status that is not an s16 or an operation that is not a u8", () => {
    const wire = blkifWire("x86_64-abi");
    expect(() =>
      encodeBlkifResponse({ id: 1, operation: 0, status: 0x8000 }, entry(16), wire),
    ).toThrow(RangeError);
    expect(() =>
      encodeBlkifResponse({ id: 1, operation: 256, status: 0 }, entry(16), wire),
    ).toThrow(RangeError);
  });

  it("decodes any status a hostile backend writes, sign included", () => {
    const wire = blkifWire("x86_32-abi");
    const b = entry(12);
    b.bytes.set([7, 0, 0, 0, 0, 0, 0, 0, 0xee, 0x99, 0x00, 0x80]);
    expect(decodeBlkifResponse(b, wire)).toStrictEqual({ id: 7, operation: 0xee, status: -32768 });
  });
});

describe("XSA-216: no byte of the slot's previous contents survives in a response", () => {
  for (const protocol of BLKIF_PROTOCOLS) {
    it(`writes every response byte, padding as zeros, over a canary-filled writer (${protocol})`, () => {
      const wire = blkifWire(protocol);
      const out = entry(wire.responseSize, CANARY); // not zeroed: the codec alone must clear the padding
      encodeBlkifResponse({ id: 1, operation: 0, status: 0 }, out, wire);
      expect([...out.bytes]).toStrictEqual(
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, wire.responseSize),
      );
    });

    it(`overwrites the response bytes of a canary-filled ring slot and leaves the rest to the frontend (${protocol})`, () => {
      const { page, front, back } = ringPair(protocol);
      const wire = blkifWire(protocol);
      front.produceRequest({ kind: "other", operation: 9, id: 0x33 });
      front.pushRequestsAndCheckNotify();
      back.consumeRequest();
      // What the slot held: a previous request, all canary bytes.
      page.fill(CANARY, 64, wire.entrySize);
      back.produceResponse({ id: 0x33, operation: 9, status: BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP });
      back.pushResponsesAndCheckNotify();
      const slot = [...page.read(64, wire.entrySize)];
      const want = [0x33, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0xfe, 0xff, 0, 0, 0, 0].slice(
        0,
        wire.responseSize,
      );
      expect(slot.slice(0, wire.responseSize)).toStrictEqual(want);
      expect(slot.slice(wire.responseSize)).toStrictEqual(
        new Array(wire.entrySize - wire.responseSize).fill(CANARY),
      );
      expect(front.consumeResponse()).toStrictEqual({ id: 0x33, operation: 9, status: -2 });
    });
  }
});
