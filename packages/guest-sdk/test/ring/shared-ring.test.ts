/**
 * Multi-page rings (orders 0-4): RING_SIZE from the C formula and entries that straddle page
 * boundaries.
 */
import { describe, expect, it } from "vitest";
import { BackRing, FrontRing, MAX_RING_PAGE_ORDER, ringPageOrder } from "@pvkit/guest-sdk";
import { __RD32, __RING_SIZE, SRING_RING_OFFSET, sring } from "@pvkit/hypervisor-sim/abi";
import { filler, firstDiff, makePages, testSpec } from "./helpers.js";

describe("ring size", () => {
  // RING_SIZE = __RD32((4096 * 2^order - 64) / entry), by hand:
  //   entry 112 (blkif_request; blkif_response is 16):
  //     o0: 4032/112 = 36 -> 32   o1: 8128/112 = 72 -> 64    o2: 16320/112 = 145 -> 128
  //     o3: 32704/112 = 292 -> 256   o4: 65472/112 = 584 -> 512   (io/ring.h __RING_SIZE)
  //   entry 64:  o0: 4032/64 = 63 -> 32   o1: 127 -> 64   o2: 255 -> 128   o3: 511 -> 256   o4: 1023 -> 512
  //   entry 12 (netif_tx_request; the response is 4):
  //     o0: 4032/12 = 336 -> 256   o1: 8128/12 = 677 -> 512   o2: 1360 -> 1024   o3: 2725 -> 2048   o4: 5456 -> 4096
  //   entry 8:   o0: 504 -> 256   o1: 1016 -> 512   o2: 2040 -> 1024   o3: 4088 -> 2048   o4: 8184 -> 4096
  //   entry 40:  o0: 100 -> 64    o1: 203 -> 128    o2: 408 -> 256     o3: 817 -> 512     o4: 1636 -> 1024
  //   entry 2017: o0: 1 -> 1      o1: 4 -> 4        o2: 8 -> 8         o3: 16 -> 16       o4: 32 -> 32
  //   entry 2048: o0: 1 -> 1      o1: 3 -> 2        o2: 7 -> 4         o3: 15 -> 8        o4: 31 -> 16
  const table: Array<[entry: number, sizes: number[]]> = [
    [112, [32, 64, 128, 256, 512]],
    [64, [32, 64, 128, 256, 512]],
    [12, [256, 512, 1024, 2048, 4096]],
    [8, [256, 512, 1024, 2048, 4096]],
    [40, [64, 128, 256, 512, 1024]],
    [2017, [1, 4, 8, 16, 32]],
    [2048, [1, 2, 4, 8, 16]],
  ];
  const pages = makePages(16);

  it.each(table)(
    "gives the C formula's RING_SIZE for %i-byte entries at orders 0-4",
    (entry, sizes) => {
      for (let order = 0; order <= MAX_RING_PAGE_ORDER; order++) {
        expect(__RING_SIZE(4096 << order, entry)).toBe(sizes[order]);
        const spec = testSpec(Math.max(entry, 8), 8);
        const front = FrontRing.init(pages.slice(0, 1 << order), spec);
        expect([front.order, front.entrySize, front.size]).toEqual([
          order,
          Math.max(entry, 8),
          sizes[order],
        ]);
        expect(BackRing.attach(pages.slice(0, 1 << order), spec).size).toBe(sizes[order]);
      }
    },
  );

  it("rounds down like the __RD32 macro chain", () => {
    expect(
      [0, 1, 2, 3, 4, 5, 255, 256, 257, 0xffff, 0x10000, 0x1ffff, 0x80000000, 0xffffffff].map(
        __RD32,
      ),
    ).toEqual([0, 1, 2, 2, 4, 4, 128, 256, 256, 0x8000, 0x10000, 0x10000, 0x80000000, 0x80000000]);
  });

  it("lays the sring header out as in io/ring.h", () => {
    expect(sring).toEqual({
      req_prod: [0, 4],
      req_event: [4, 4],
      rsp_prod: [8, 4],
      rsp_event: [12, 4],
      pvt: [16, 4],
      __pad: [20, 44],
    });
    expect(SRING_RING_OFFSET).toBe(64);
  });

  it("uses the larger struct as the entry, or an explicit union size", () => {
    const base = testSpec(12, 8);
    expect(FrontRing.init(pages.slice(0, 1), base).entrySize).toBe(12);
    // union { 12-byte struct (align 4); 8-byte struct with a u64 (align 8) } is 16 bytes in C.
    const padded = { ...base, entrySize: 16 };
    expect(FrontRing.init(pages.slice(0, 1), padded).size).toBe(128); // __RD32(4032/16 = 252)
    expect(() => FrontRing.init(pages.slice(0, 1), { ...base, entrySize: 10 })).toThrow(RangeError);
  });

  it("refuses page counts that are not 2^0..2^4 and entries that do not fit", () => {
    const spec = testSpec(112, 16);
    for (const n of [0, 3, 5, 32])
      expect(() => FrontRing.init(makePages(n), spec)).toThrow(RangeError);
    expect(() => ringPageOrder(17)).toThrow(RangeError);
    expect(ringPageOrder(16)).toBe(4);
    expect(() => FrontRing.init(pages.slice(0, 1), testSpec(4033, 8))).toThrow(/does not fit/);
    expect(FrontRing.init(pages.slice(0, 2), testSpec(4033, 8)).size).toBe(2); // (8192-64)/4033 = 2
  });
});

describe("entries across page boundaries", () => {
  it("writes and reads an entry that straddles two pages byte-exactly", () => {
    // 40-byte entries at order 1: slot 100 is at 64 + 100*40 = 4064, so bytes 4064..4095 are on
    // page 0 and its last 8 bytes are at 0..7 of page 1.
    const pages = makePages(2);
    const spec = testSpec(40, 12);
    const front = FrontRing.init(pages, spec);
    const back = BackRing.attach(pages, spec);
    expect(front.size).toBe(128);
    for (let i = 0; i < 102; i++) front.produceRequest({ id: i, payload: filler(i, 36) });
    front.pushRequests();
    const expected = new Uint8Array(40);
    new DataView(expected.buffer).setUint32(0, 100, true);
    expected.set(filler(100, 36), 4);
    expect(pages[0]!.read(4064, 32)).toEqual(expected.subarray(0, 32));
    expect(pages[1]!.read(0, 8)).toEqual(expected.subarray(32));
    for (let i = 0; i < 102; i++)
      expect(back.consumeRequest()).toEqual({ id: i, payload: filler(i, 36) });
    // Slot 101 starts at 4104 = page 1 offset 8.
    expect(pages[1]!.getU32(8)).toBe(101);
  });

  it("runs a 16-page blkif-sized ring through several wraps with every slot checked", () => {
    const pages = makePages(16);
    const spec = testSpec(112, 16);
    const front = FrontRing.attach(pages, spec, 0xffffff00);
    pages[0]!.setU32(0, 0xffffff00);
    pages[0]!.setU32(8, 0xffffff00);
    const back = BackRing.attach(pages, spec, 0xffffff00);
    expect(front.size).toBe(512);
    let sent = 0;
    let seen = 0;
    for (let round = 0; round < 5; round++) {
      while (!front.full) {
        front.produceRequest({ id: sent, payload: filler(sent, 108) });
        sent++;
      }
      front.pushRequestsAndCheckNotify();
      for (let r = back.consumeRequest(); r !== undefined; r = back.consumeRequest()) {
        expect(r.id).toBe(seen);
        expect(firstDiff(r.payload, filler(seen, 108))).toBe(-1);
        back.produceResponse({ id: r.id, status: 0, payload: filler(r.id, 10, 2) });
        seen++;
      }
      back.pushResponsesAndCheckNotify();
      for (let k = 0; k < 512; k++) {
        const rsp = front.consumeResponse();
        expect(rsp?.id).toBe(sent - 512 + k);
        expect(firstDiff(rsp!.payload, filler(sent - 512 + k, 10, 2))).toBe(-1);
      }
      expect(front.consumeResponse()).toBeUndefined();
    }
    expect(sent).toBe(2560);
    expect(front.reqProdPvt).toBe((0xffffff00 + 2560) >>> 0); // wrapped past 2^32
  });
});
