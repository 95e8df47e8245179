/**
 * The pvrng backend: maps the ring, binds the event channel, and answers each request by
 * mapping its page, filling it from a seeded PRNG and unmapping it before the response.
 */
import {
  BackRing,
  type BackendDriver,
  type EventChannel,
  type XenbusDevice,
} from "@pvkit/guest-sdk";
import { type RngRequest, type RngResponse, TYPE, prng, rngSpec } from "./protocol.js";

/** What the backend keeps per device. */
export interface BackState {
  ring: BackRing<RngRequest, RngResponse>;
  channel: EventChannel;
}

/** A backend driver whose PRNG for each device starts from `seed`. */
export function pvrngBack(seed: number): BackendDriver<BackState> {
  return {
    type: TYPE, // "pvrng"
    async connect(dev) {
      // The framework walked XenbusState to here.
      const next = prng(seed);
      const mapped = await dev.mapRing(); // ring-ref / ring-page-order from the frontend
      const ring = BackRing.attach(mapped.pages, rngSpec, 0, { name: "pvrng ring" });
      const channel = await dev.bindEvtchn({ onEvent: () => serve(dev, ring, channel, next) });
      dev.data = { ring, channel }; // released by the framework on disconnect
    },
  };
}

function serve(
  dev: XenbusDevice<BackState>,
  ring: BackRing<RngRequest, RngResponse>,
  ch: EventChannel,
  next: () => number,
): void {
  do {
    for (let req = ring.consumeRequest(); req !== undefined; req = ring.consumeRequest()) {
      const [m] = dev.env.mapper.map([req.gref], dev.otherendId);
      for (let i = 0; i < req.len; i++) m!.page.setU8(i, next());
      m!.unmap();
      ring.produceResponse({ id: req.id, status: 0, len: req.len });
    }
    if (ring.pushResponsesAndCheckNotify()) ch.notify();
  } while (ring.finalCheckForRequests());
}
