/**
 * @pvkit/guest-sdk: the guest kernel's Xen layer for pvkit drivers.
 */
export { FrontRing } from "./ring/front-ring.js";
export { BackRing } from "./ring/back-ring.js";
export type { RingOptions } from "./ring/ring-core.js";
export { type RingCodec, type RingSpec, type EntryReader, type EntryWriter, EntryBuffer, ringEntrySize } from "./ring/ring-codec.js";
export { RingProtocolError, RING_ERROR_CODES, type RingFault, type RingFaultReason, type RingErrorCode } from "./ring/ring-error.js";
export { MAX_RING_PAGE_ORDER, ringPageOrder } from "./ring/shared-ring.js";
export { requests$, responses$, type RingDrainOptions } from "./ring/ring-rx.js";
export { ByteRingReader, ByteRingWriter, type ByteRingLayout, consoleInRing, consoleOutRing, xenstoreRequestRing, xenstoreResponseRing } from "./ring/byte-ring.js";
