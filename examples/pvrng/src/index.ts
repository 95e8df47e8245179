/** @pvkit/example-pvrng: a paravirtual RNG written on the xenbus driver framework. */
export { pvrngFront, read, type FrontState } from "./front.js";
export { pvrngBack, type BackState } from "./back.js";
export { TYPE, MAX_LEN, rngSpec, prng, type RngRequest, type RngResponse } from "./protocol.js";
