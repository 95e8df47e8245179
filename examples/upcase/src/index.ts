/** @pvkit/example-upcase: the split device built in docs/tutorial.md. */
export { upcaseFront, shout, type FrontState } from "./front.js";
export { upcaseBack, type BackState } from "./back.js";
export { TYPE, MAX_LEN, STATUS_BAD_GREF, upcaseSpec, type UpcaseRequest, type UpcaseResponse } from "./protocol.js";
