// The sanitizer against a small RNG driver broken one way at a time: each bug is caught with a
// message naming the domain, the device, the ring or port and the trace position; the correct
// driver yields none.
import { describe, expect, it } from "vitest";
import { SanitizerError, type SanitizerOptions, withHost } from "@pvkit/toolstack/testing";
import {
  type BackBugs,
  type FrontBugs,
  type RngRequest,
  type RngResponse,
  rngSpecIdLast,
} from "./rng-drivers.js";
import { scenario } from "./rng-scenario.js";

/** The findings' messages of a run (none when it passes). */
async function findings(
  fb: FrontBugs,
  bb: BackBugs = {},
  opts: SanitizerOptions = {},
  spec?: Parameters<typeof scenario>[3],
): Promise<string[]> {
  try {
    await withHost((h) => scenario(h, fb, bb, spec), { sanitizer: opts });
    return [];
  } catch (e) {
    if (!(e instanceof SanitizerError)) throw e;
    return e.findings.map((f) => f.message);
  }
}

/** pvrng's protocol: a response carries as many bytes as its request asked for. */
const lengthCheck = (_type: string, q: unknown, r: unknown): string | undefined => {
  const [want, got] = [(q as RngRequest).len, (r as RngResponse).len];
  return got !== want ? `answered ${got} of ${want} bytes` : undefined;
};

describe("sanitizer", () => {
  it("reports nothing for the correct driver", async () => {
    expect(await findings({})).toEqual([]);
  });
  it("reports nothing when requests pushed without a notify are answered before anyone looks (their slots overwritten)", async () => {
    // The burst: request 0 notifies, 1..5 do not (req_event 1); the backend answers all six
    // over their slots before its next event, with the id where the request had its gref.
    expect(await findings({}, {}, { checkResponse: lengthCheck }, rngSpecIdLast)).toEqual([]);
  });
  it("catches a response with an id never issued when the response keeps its id elsewhere than the request", async () => {
    expect(
      (await findings({}, { bogusId: true }, {}, rngSpecIdLast)).map((m) =>
        m.slice(0, m.indexOf(" (trace")),
      ),
    ).toEqual([
      "[unknown-response-id] d0 (Domain-0) /local/domain/0/backend/rng/1/0 ring (grant ref 8 of d1): response 0 answers id 1001, which the frontend never issued (or was answered already)",
    ]);
  });
  it("catches a leaked data grant, naming the domain, the device and the trace position", async () => {
    expect(await findings({ leakGrant: true }, {}, {})).toEqual([
      "[leaked-grant] d1 (rng-user) /local/domain/1/device/rng/0 grant ref 9: a grant to d0 (frame 0x201) is still granted after the device disconnected (trace seq 368, t=0 ns). Hint: a data grant was made with env.grants directly and never ended; grant through dev.grantPage() or end it when the request completes",
    ]);
  });
  it("catches a ring grant never ended, naming the domain, the device and the trace position", async () => {
    expect(await findings({ rawRingGrant: true }, {}, {})).toEqual([
      "[ring-grant-not-ended] d1 (rng-user) /local/domain/1/device/rng/0 grant ref 8: the ring grant to d0 (frame 0x200) is still granted after the device disconnected (trace seq 368, t=0 ns). Hint: the ring was granted outside dev.grantRing() and never ended; use dev.grantRing(), which ends it on disconnect",
    ]);
  });
  it("catches a port never closed, naming the domain, the device and the trace position", async () => {
    expect(await findings({ leakPort: true }, {}, {})).toEqual([
      "[leaked-port] d1 (rng-user) /local/domain/1/device/rng/0 port 4: UNBOUND port (unbound for d0) is still open after the device disconnected (trace seq 369, t=0 ns). Hint: an event channel was bound outside dev.allocEvtchn()/bindEvtchn() and never closed",
    ]);
  });
  it("catches a watch never removed, naming the domain, the device and the trace position", async () => {
    expect(await findings({ leakWatch: true }, {}, {})).toEqual([
      "[leaked-watch] d1 (rng-user) /local/domain/1/device/rng/0 watch /local/domain/0/backend/rng/1/0/feature-x: still watched after the device disconnected (trace seq 370, t=0 ns). Hint: a watch was set with env.xs.watch() and never unsubscribed; use dev.watch(), which closes it on disconnect",
    ]);
  });
  it("catches a backend keeping the ring mapped after Closed, naming the domain, the device and the trace position", async () => {
    expect(await findings({}, { rawRingMap: true }, {})).toEqual([
      "[ring-mapped-after-close] d0 (Domain-0) /local/domain/0/backend/rng/1/0 grant ref 8 of d1: the ring is still mapped (handle 2) after the device reached Closed (trace seq 365, t=0 ns). Hint: the backend mapped the ring outside dev.mapRing() and did not unmap it before Closed; the frontend cannot end its ring grant (XSA-396)",
    ]);
  });
  it("catches a frontend skipping its notify, naming the domain, the device and the trace position", async () => {
    expect(await findings({ skipNotify: true }, {}, {})).toEqual([
      "[lost-wakeup] d1 (rng-user) /local/domain/1/device/rng/0 ring (grant ref 8 of d1, ports d1:3 / d0:4): 6 request(s) pushed where the backend asked to be woken (req_prod 6, req_event 1, req_cons 0), no event pending, both ends blocked (trace seq 254, t=0 ns). Hint: the frontend pushed requests without notifying; notify when pushRequestsAndCheckNotify() says so",
    ]);
  });
  it("catches a backend skipping its notify, naming the domain, the device and the trace position", async () => {
    expect(await findings({}, { skipNotify: true }, {})).toEqual([
      "[lost-wakeup] d0 (Domain-0) /local/domain/0/backend/rng/1/0 ring (grant ref 8 of d1, ports d1:3 / d0:4): 6 response(s) pushed where the frontend asked to be woken (rsp_prod 6, rsp_event 1, rsp_cons 0), no event pending, both ends blocked (trace seq 268, t=0 ns). Hint: the backend pushed responses without notifying; notify when pushResponsesAndCheckNotify() says so",
    ]);
  });
  it("catches a frontend skipping its final check, naming the domain, the device and the trace position", async () => {
    expect(await findings({ skipFinalCheck: true }, {}, {})).toEqual([
      "[lost-wakeup] d1 (rng-user) /local/domain/1/device/rng/0 ring (grant ref 8 of d1, ports d1:3 / d0:4): 1 response(s) unconsumed and rsp_event never re-armed past what the frontend consumed (rsp_prod 7, rsp_event 1, rsp_cons 6), no event pending, both ends blocked (trace seq 273, t=0 ns). Hint: the frontend went idle without its final check; loop on finalCheckForResponses()",
    ]);
  });
  it("catches a backend skipping its final check, naming the domain, the device and the trace position", async () => {
    expect(await findings({}, { skipFinalCheck: true }, {})).toEqual([
      "[lost-wakeup] d0 (Domain-0) /local/domain/0/backend/rng/1/0 ring (grant ref 8 of d1, ports d1:3 / d0:4): 1 request(s) unconsumed and req_event never re-armed past what the backend consumed (req_prod 7, req_event 1, req_cons 6), no event pending, both ends blocked (trace seq 270, t=0 ns). Hint: the backend went idle without its final check; loop on finalCheckForRequests()",
    ]);
  });
  it("catches a frontend notifying on every request, naming the domain, the device and the trace position", async () => {
    expect(await findings({ notifyEvery: true }, {}, {})).toEqual([
      "[notify-storm] d1 (rng-user) /local/domain/1/device/rng/0 port 3: 7 notifications for 7 requests pushed, where the backend's req_event asked for 2 (5 unneeded, 0 with nothing new on the ring) (trace seq 378, t=0 ns). Hint: the producer notifies without checking the push's notify flag (RING_PUSH_*_AND_CHECK_NOTIFY); notify only when pushRequestsAndCheckNotify()/pushResponsesAndCheckNotify() says so",
    ]);
  });
  it("catches a short copy (with the device's response check), naming the domain, the device and the trace position", async () => {
    expect(await findings({}, { shortCopy: true }, { checkResponse: lengthCheck })).toEqual([
      "[bad-response] d0 (Domain-0) /local/domain/0/backend/rng/1/0 ring (grant ref 8 of d1): response 0 (id 1): answered 15 of 16 bytes (trace seq 267, t=0 ns). Hint: a response does not match its request (the protocol check says how); a short copy, say",
    ]);
  });
  it("catches a response with an id never issued, naming the domain, the device and the trace position", async () => {
    expect(await findings({}, { bogusId: true }, {})).toEqual([
      "[unknown-response-id] d0 (Domain-0) /local/domain/0/backend/rng/1/0 ring (grant ref 8 of d1): response 0 answers id 1001, which the frontend never issued (or was answered already) (trace seq 267, t=0 ns). Hint: the backend answered an id the frontend never issued (a stale or corrupted id, or an answer sent twice)",
    ]);
  });
});
