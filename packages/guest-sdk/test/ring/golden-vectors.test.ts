/**
 * Golden vectors: the exact bytes of the shared ring after specific operations, computed by
 * hand from io/ring.h and written out below with their derivation.
 *
 * Protocol used here (a miniature blkif):
 *   struct req { uint16_t id; uint8_t op; uint8_t nr; uint32_t sector; };   sizeof = 8
 *   struct rsp { uint16_t id; int16_t status; };                             sizeof = 4
 *   union entry { req; rsp; }                                                sizeof = 8
 *   RING_SIZE = __RD32((4096 - 64) / 8) = __RD32(504) = 256
 *   entry i lives at 64 + (i & 255) * 8.
 * The page is pre-filled with 0xAA so that untouched bytes show.
 */
import { describe, expect, it } from "vitest";
import { BackRing, FrontRing, type RingSpec } from "@pvkit/guest-sdk";
import { makePages } from "./helpers.js";

interface Req {
  id: number;
  op: number;
  nr: number;
  sector: number;
}
interface Rsp {
  id: number;
  status: number;
}
const spec: RingSpec<Req, Rsp> = {
  request: {
    size: 8,
    encode(v, out) {
      out.setU16(0, v.id);
      out.setU8(2, v.op);
      out.setU8(3, v.nr);
      out.setU32(4, v.sector);
    },
    decode: (i) => ({ id: i.getU16(0), op: i.getU8(2), nr: i.getU8(3), sector: i.getU32(4) }),
  },
  response: {
    size: 4,
    encode(v, out) {
      out.setU16(0, v.id);
      out.setS16(2, v.status);
    },
    decode: (i) => ({ id: i.getU16(0), status: i.getS16(2) }),
  },
};

/** `len` bytes of the page at `off` as space-separated hex. */
function hexAt(page: { read(o: number, l: number): Uint8Array }, off: number, len: number): string {
  return [...page.read(off, len)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}
/** The 16 index bytes of the header: req_prod, req_event, rsp_prod, rsp_event. */
const header = (page: Parameters<typeof hexAt>[0]): string => hexAt(page, 0, 16);

describe("golden ring bytes", () => {
  it("writes the documented bytes for init, three requests, two responses and the event re-arms", () => {
    const [page] = makePages(1);
    page!.fill(0xaa);
    const front = FrontRing.init([page!], spec);
    expect(front.size).toBe(256);
    // SHARED_RING_INIT: req_prod 0, req_event 1, rsp_prod 0, rsp_event 1 (u32 LE); pvt and __pad zero.
    expect(header(page!)).toBe("00 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00");
    expect(hexAt(page!, 16, 48)).toBe(Array(48).fill("00").join(" "));
    expect(hexAt(page!, 64, 8)).toBe("aa aa aa aa aa aa aa aa"); // entries are not initialised

    // Three requests: ids 1..3. push: old=0, new=3, req_event=1: (3-1)=2 < (3-0)=3, so notify.
    front.produceRequest({ id: 1, op: 0, nr: 1, sector: 0x1000 });
    front.produceRequest({ id: 2, op: 1, nr: 2, sector: 0x2000 });
    front.produceRequest({ id: 3, op: 0, nr: 3, sector: 0xdeadbeef });
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    expect(header(page!)).toBe("03 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00");
    // id(u16) op nr sector(u32), little-endian.
    expect(hexAt(page!, 64, 8)).toBe("01 00 00 01 00 10 00 00");
    expect(hexAt(page!, 72, 8)).toBe("02 00 01 02 00 20 00 00");
    expect(hexAt(page!, 80, 8)).toBe("03 00 00 03 ef be ad de");
    expect(hexAt(page!, 88, 8)).toBe("aa aa aa aa aa aa aa aa");

    // Backend consumes two and answers them (status 0 and -1). push: old=0, new=2,
    // rsp_event=1: (2-1)=1 < 2, so notify. A response overwrites only the first 4 bytes of
    // its union slot: the request's sector bytes stay behind.
    const back = BackRing.attach([page!], spec);
    expect(back.consumeRequest()).toEqual({ id: 1, op: 0, nr: 1, sector: 0x1000 });
    expect(back.consumeRequest()).toEqual({ id: 2, op: 1, nr: 2, sector: 0x2000 });
    back.produceResponse({ id: 1, status: 0 });
    back.produceResponse({ id: 2, status: -1 });
    expect(back.pushResponsesAndCheckNotify()).toBe(true);
    expect(header(page!)).toBe("03 00 00 00 01 00 00 00 02 00 00 00 01 00 00 00");
    expect(hexAt(page!, 64, 8)).toBe("01 00 00 00 00 10 00 00");
    expect(hexAt(page!, 72, 8)).toBe("02 00 ff ff 00 20 00 00");
    // Final check: min(req_prod - req_cons, 256 - (req_cons - rsp_prod_pvt)) = min(1, 256) = 1:
    // work is pending, so req_event is NOT re-armed.
    expect(back.finalCheckForRequests()).toBe(true);
    expect(hexAt(page!, 4, 4)).toBe("01 00 00 00");

    // Frontend takes both responses; final check finds rsp_prod - rsp_cons = 0 and arms
    // rsp_event = rsp_cons + 1 = 3.
    expect(front.consumeResponse()).toEqual({ id: 1, status: 0 });
    expect(front.consumeResponse()).toEqual({ id: 2, status: -1 });
    expect(front.finalCheckForResponses()).toBe(false);
    expect(header(page!)).toBe("03 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00");

    // Backend answers id 3: old=2, new=3, rsp_event=3: (3-3)=0 < 1, notify. Its final check
    // finds nothing and arms req_event = req_cons + 1 = 4.
    expect(back.consumeRequest()?.id).toBe(3);
    back.produceResponse({ id: 3, status: 0 });
    expect(back.pushResponsesAndCheckNotify()).toBe(true);
    expect(back.finalCheckForRequests()).toBe(false);
    expect(header(page!)).toBe("03 00 00 00 04 00 00 00 03 00 00 00 03 00 00 00");
    expect(hexAt(page!, 80, 8)).toBe("03 00 00 00 ef be ad de");

    // Request 4: old=3, new=4, req_event=4: (4-4)=0 < 1, notify. Request 5: old=4, new=5,
    // req_event=4: (5-4)=1 < (5-4)=1 is false: the backend has not re-armed, no notify.
    front.produceRequest({ id: 4, op: 2, nr: 0, sector: 0 });
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    front.produceRequest({ id: 5, op: 2, nr: 0, sector: 0 });
    expect(front.pushRequestsAndCheckNotify()).toBe(false);
    expect(header(page!)).toBe("05 00 00 00 04 00 00 00 03 00 00 00 03 00 00 00");
    expect(hexAt(page!, 88, 16)).toBe("04 00 02 00 00 00 00 00 05 00 02 00 00 00 00 00");
  });

  it("writes the documented bytes when the indices wrap at 2^32", () => {
    const [page] = makePages(1);
    page!.fill(0xaa);
    // A ring that has been running: the shared indices stand at 0xfffffffe, events at 0xffffffff.
    page!.setU32(0, 0xfffffffe);
    page!.setU32(4, 0xffffffff);
    page!.setU32(8, 0xfffffffe);
    page!.setU32(12, 0xffffffff);
    const front = FrontRing.attach([page!], spec, 0xfffffffe);
    // Indices 0xfffffffe, 0xffffffff, 0x00000000 are slots 254, 255, 0:
    // byte offsets 64 + 254*8 = 2096 (0x830), 2104 (0x838), and 64 (0x40).
    for (const id of [10, 11, 12]) front.produceRequest({ id, op: 0, nr: 1, sector: id << 12 });
    // push: old=0xfffffffe, new=1, req_event=0xffffffff: (1-0xffffffff)=2 < (1-0xfffffffe)=3, notify.
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    expect(header(page!)).toBe("01 00 00 00 ff ff ff ff fe ff ff ff ff ff ff ff");
    expect(hexAt(page!, 0x830, 8)).toBe("0a 00 00 01 00 a0 00 00");
    expect(hexAt(page!, 0x838, 8)).toBe("0b 00 00 01 00 b0 00 00");
    expect(hexAt(page!, 0x40, 8)).toBe("0c 00 00 01 00 c0 00 00");
    expect(hexAt(page!, 0x48, 8)).toBe("aa aa aa aa aa aa aa aa");
    expect(front.freeRequests).toBe(253); // 256 - (1 - 0xfffffffe) = 256 - 3

    // The backend: req_prod - rsp_prod_pvt = 3 <= 256, no overflow; consumes all three.
    const back = BackRing.attach([page!], spec, 0xfffffffe);
    expect(back.unconsumedRequests).toBe(3);
    expect([
      back.consumeRequest()?.id,
      back.consumeRequest()?.id,
      back.consumeRequest()?.id,
    ]).toEqual([10, 11, 12]);
    expect(back.reqCons).toBe(1);
    expect(back.finalCheckForRequests()).toBe(false);
    expect(hexAt(page!, 4, 4)).toBe("02 00 00 00"); // req_event = req_cons + 1 = 2
  });

  it("writes the documented bytes when the indices cross 2^31", () => {
    const [page] = makePages(1);
    page!.fill(0xaa);
    // Shared indices at 0x7fffffff (the largest positive s32), events at 0x80000000.
    page!.setU32(0, 0x7fffffff);
    page!.setU32(4, 0x80000000);
    page!.setU32(8, 0x7fffffff);
    page!.setU32(12, 0x80000000);
    const front = FrontRing.attach([page!], spec, 0x7fffffff);
    // 0x7fffffff & 255 = 255 -> offset 2104 (0x838); 0x80000000 & 255 = 0 -> offset 64.
    front.produceRequest({ id: 0x7fff, op: 1, nr: 8, sector: 0x7fffffff });
    front.produceRequest({ id: 0x8000, op: 1, nr: 8, sector: 0x80000000 });
    // old=0x7fffffff, new=0x80000001, req_event=0x80000000: (new-event)=1 < (new-old)=2, notify.
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    expect(header(page!)).toBe("01 00 00 80 00 00 00 80 ff ff ff 7f 00 00 00 80");
    expect(hexAt(page!, 0x838, 8)).toBe("ff 7f 01 08 ff ff ff 7f");
    expect(hexAt(page!, 0x40, 8)).toBe("00 80 01 08 00 00 00 80");
    const back = BackRing.attach([page!], spec, 0x7fffffff);
    expect(back.consumeRequest()?.sector).toBe(0x7fffffff);
    expect(back.consumeRequest()?.sector).toBe(0x80000000);
    back.produceResponse({ id: 0x7fff, status: 0 });
    back.produceResponse({ id: 0x8000, status: 0 });
    // old=0x7fffffff, new=0x80000001, rsp_event=0x80000000: notify; rsp_prod = 0x80000001.
    expect(back.pushResponsesAndCheckNotify()).toBe(true);
    expect(hexAt(page!, 8, 4)).toBe("01 00 00 80");
    expect(front.consumeResponse()?.id).toBe(0x7fff);
    expect(front.consumeResponse()?.id).toBe(0x8000);
    expect(front.freeRequests).toBe(256);
  });
});
