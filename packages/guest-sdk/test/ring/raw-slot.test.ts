// The codec-free ring operations (RING_GET_REQUEST / RING_GET_RESPONSE written in place,
// RING_COPY_REQUEST / RING_COPY_RESPONSE read from the private copy): the same bytes on the
// shared pages as the codec path, entries straddling a page boundary included, and the same
// index checks (a lying peer's producer index is refused before any entry is read).
import { describe, expect, it } from "vitest";
import { driverInspect } from "@pvkit/guest-sdk";
import { filler, ringErrorOf, ringsAt, snapshot, testSpec, WRAP_STARTS } from "./helpers.js";

// 100-byte requests on two pages: 64 + 40 * 100 crosses 4096, so entry 40 straddles page 0/1.
const spec = testSpec(100, 12);

describe.each(WRAP_STARTS)("raw slots with indices near $at", ({ start }) => {
  it("writes every request and response byte for byte as the codec does, straddling entries too", () => {
    const a = ringsAt(start, spec, 2);
    const b = ringsAt(start, spec, 2);
    const n = a.front.size;
    expect(n).toBe(64);
    for (let id = 0; id < n; id++) {
      const payload = filler(id, 96);
      a.front.produceRequest({ id, payload });
      const w = b.front.nextRequest();
      w.setU32(0, id);
      w.write(4, payload);
      expect(b.front.commitRequest()).toBe((start + id) >>> 0);
    }
    expect(a.front.pushRequestsAndCheckNotify()).toBe(b.front.pushRequestsAndCheckNotify());
    expect(snapshot(b.pages)).toEqual(snapshot(a.pages));
    for (let id = 0; id < n; id++) {
      const r = b.back.copyRequest()!;
      expect([r.getU32(0), r.read(4, 96)]).toEqual([id, filler(id, 96)]);
      expect(a.back.consumeRequest()?.id).toBe(id);
      a.back.produceResponse({ id, status: -id | 0, payload: filler(id, 6) });
      const w = b.back.nextResponse();
      w.setU32(0, id);
      w.setS16(4, -id | 0);
      w.write(6, filler(id, 6));
      b.back.commitResponse();
    }
    expect(b.back.copyRequest()).toBeUndefined();
    expect(a.back.pushResponsesAndCheckNotify()).toBe(b.back.pushResponsesAndCheckNotify());
    expect(snapshot(b.pages)).toEqual(snapshot(a.pages));
    for (let id = 0; id < n; id++) {
      const r = b.front.copyResponse()!;
      expect([r.getU32(0), r.getS16(4)]).toEqual([id, -id | 0]);
    }
    expect(b.front.copyResponse()).toBeUndefined();
    expect(b.front.freeRequests).toBe(n);
  });

  it("refuses a commit without an open slot, and a full ring", () => {
    const { front, back } = ringsAt(start, spec);
    expect(() => front.commitRequest()).toThrow(RangeError);
    expect(() => back.nextResponse()).toThrow(RangeError);
    for (let id = 0; id < front.size; id++) {
      front.nextRequest().setU32(0, id);
      front.commitRequest();
    }
    expect(() => front.nextRequest()).toThrow(RangeError);
    front.pushRequests();
    back.copyRequest();
    back.nextResponse();
    back.commitResponse();
    expect(() => back.commitResponse()).toThrow(RangeError);
  });

  it("checks the producer indices as consumeRequest and consumeResponse do", () => {
    const a = ringsAt(start, spec);
    a.pages[0]!.setU32(0, (start + a.front.size + 1) >>> 0); // req_prod far ahead
    const e1 = ringErrorOf(() => a.back.copyRequest());
    expect(e1?.fault.reason).toBe("req-prod-overflow");
    const b = ringsAt(start, spec);
    b.front.nextRequest();
    b.front.commitRequest();
    b.pages[0]!.setU32(8, (start + 2) >>> 0); // rsp_prod: two responses for one request
    expect(ringErrorOf(() => b.front.copyResponse())?.fault.reason).toBe(
      "rsp-prod-beyond-requests",
    );
    expect(b.front.halted).toBeDefined();
  });
});

describe("raw slots and driverInspect", () => {
  it("report the decoded request produced and response consumed, as the codec path does", () => {
    const seen: unknown[] = [];
    const off = driverInspect.listen({
      requestProduced: (_e, idx, req) => seen.push(["req", idx, (req as { id: number }).id]),
      responseConsumed: (_e, idx, rsp) =>
        seen.push(["rsp", idx, (rsp as { id: number; status: number }).status]),
    });
    try {
      const { front, back } = ringsAt(0, spec);
      front.nextRequest().setU32(0, 77);
      front.commitRequest();
      front.pushRequests();
      back.consumeRequest();
      back.produceResponse({ id: 77, status: -5, payload: filler(0, 6) });
      back.pushResponses();
      front.copyResponse();
    } finally {
      off();
    }
    expect(seen).toEqual([
      ["req", 0, 77],
      ["rsp", 0, -5],
    ]);
  });
});
