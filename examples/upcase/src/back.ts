/**
 * The upcase backend: maps the ring, binds the event channel, and answers each request by
 * mapping its page, upper-casing its ASCII letters in place and unmapping it before the response.
 */
import { BackRing, type BackendDriver, type EventChannel, type XenbusDevice } from "@pvkit/guest-sdk";
import { STATUS_BAD_GREF, TYPE, type UpcaseRequest, type UpcaseResponse, upcaseSpec } from "./protocol.js";

/** What the backend keeps per device (`dev.data`). */
export interface BackState {
  ring: BackRing<UpcaseRequest, UpcaseResponse>;
  channel: EventChannel;
}

/** The backend driver: register it on dom0's (or a driver domain's) bus. */
export const upcaseBack: BackendDriver<BackState> = {
  type: TYPE,
  async connect(dev) {
    const mapped = await dev.mapRing(); // ring-ref from the frontend, unmapped on disconnect
    const ring = BackRing.attach(mapped.pages, upcaseSpec, 0, { name: "upcase ring" });
    const channel = await dev.bindEvtchn({ onEvent: () => serve(dev, ring, channel) });
    dev.data = { ring, channel };
  },
};

function serve(dev: XenbusDevice<BackState>, ring: BackRing<UpcaseRequest, UpcaseResponse>, ch: EventChannel): void {
  do {
    for (let req = ring.consumeRequest(); req !== undefined; req = ring.consumeRequest()) {
      ring.produceResponse({ id: req.id, status: upcase(dev, req), len: req.len });
    }
    if (ring.pushResponsesAndCheckNotify()) ch.notify(); // only when the frontend asked to be woken
  } while (ring.finalCheckForRequests()); // re-arm req_event, then look again
}

function upcase(dev: XenbusDevice<BackState>, req: UpcaseRequest): number {
  let m;
  try {
    [m] = dev.env.mapper.map([req.gref], dev.otherendId);
  } catch {
    return STATUS_BAD_GREF; // GNTST_bad_gntref and friends: answer, do not crash the backend
  }
  for (let i = 0; i < req.len; i++) {
    const c = m!.page.getU8(i);
    if (c >= 0x61 && c <= 0x7a) m!.page.setU8(i, c - 0x20); // a-z -> A-Z, every other byte as is
  }
  m!.unmap();
  return 0;
}
