// The "Rings" example of README.md, run as written (console.log replaced by `log`).
import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { BackRing, FrontRing, type RingSpec } from "@pvkit/guest-sdk";

interface Req { id: number; sector: number }
interface Rsp { id: number; status: number }

describe("README rings example", () => {
  it("prints RING_SIZE 128, one notification to the backend and both responses", () => {
    const out: unknown[] = [];
    const log = (v: unknown): void => {
      out.push(v);
    };

    const spec: RingSpec<Req, Rsp> = {
      request: {
        size: 16, // sizeof(struct req)
        encode: (v, out) => { out.setU32(0, v.id); out.setU64(8, v.sector); },
        decode: (i) => ({ id: i.getU32(0), sector: i.getU64(8) }),
        validate: (v) => (v.sector % 8 === 0 ? undefined : `unaligned sector ${v.sector}`),
      },
      response: {
        size: 8, // sizeof(struct rsp)
        encode: (v, out) => { out.setU32(0, v.id); out.setS16(4, v.status); },
        decode: (i) => ({ id: i.getU32(0), status: i.getS16(4) }),
      },
    };

    const hv = new Hypervisor({ mode: "manual" });
    const dom = hv.createDomain({ nrPages: 64 });
    const page = hv.guest(dom.domid).memory.writablePage(0);

    const front = FrontRing.init([page], spec);
    const back = BackRing.attach([page], spec);
    log(front.size);

    front.produceRequest({ id: 1, sector: 8 });
    front.produceRequest({ id: 2, sector: 16 });
    if (front.pushRequestsAndCheckNotify()) log("notify the backend");

    do {
      for (let req = back.consumeRequest(); req !== undefined; req = back.consumeRequest()) {
        back.produceResponse({ id: req.id, status: 0 });
      }
      if (back.pushResponsesAndCheckNotify()) log("notify the frontend");
    } while (back.finalCheckForRequests());

    for (let rsp = front.consumeResponse(); rsp !== undefined; rsp = front.consumeResponse()) {
      log(`request ${rsp.id} done: ${rsp.status}`);
    }

    // The README's comments: RING_SIZE 128; the push notifies (req_event was 1). The frontend
    // never armed rsp_event past its initial 1, so the backend's push notifies too.
    expect(out).toEqual([
      128,
      "notify the backend",
      "notify the frontend",
      "request 1 done: 0",
      "request 2 done: 0",
    ]);
    // The final check re-armed req_event = req_cons + 1 (struct sring: req_event at offset 4).
    expect(back.reqCons).toBe(2);
    expect(page.getU32(4)).toBe(3);
    expect(front.unconsumedResponses).toBe(0);
  });
});
