/**
 * The one error type of the ring layer. A peer that breaks the `io/ring.h` (or byte-ring)
 * protocol produces a `RingProtocolError`; callers match on `code` or on `fault.reason`.
 */

import { PvkitError } from "@pvkit/hypervisor-sim";

/** What went wrong, with the index values involved (all u32). */
export type RingFault =
  | {
      /** `RING_REQUEST_PROD_OVERFLOW`: the frontend published more requests than the ring holds. */
      readonly reason: "req-prod-overflow";
      readonly req_prod: number;
      readonly req_cons: number;
      readonly rsp_prod_pvt: number;
      readonly RING_SIZE: number;
    }
  | {
      /** `RING_RESPONSE_PROD_OVERFLOW`: the backend published more responses than the ring holds. */
      readonly reason: "rsp-prod-overflow";
      readonly rsp_prod: number;
      readonly rsp_cons: number;
      readonly req_prod_pvt: number;
      readonly RING_SIZE: number;
    }
  | {
      /**
       * The backend published more responses than the frontend has requests outstanding:
       * `rsp_prod - rsp_cons > req_prod_pvt - rsp_cons`, while still within RING_SIZE (so
       * `RING_RESPONSE_PROD_OVERFLOW` accepts it). A response can only answer a request, so the
       * extra ones are forged; taking them would let `rsp_cons` run past `req_prod_pvt`.
       */
      readonly reason: "rsp-prod-beyond-requests";
      readonly rsp_prod: number;
      readonly rsp_cons: number;
      readonly req_prod_pvt: number;
      /** Requests produced and not yet answered: `req_prod_pvt - rsp_cons`. */
      readonly outstanding: number;
    }
  | {
      /** An entry's private copy failed to decode or failed the codec's `validate`. */
      readonly reason: "invalid-entry";
      readonly kind: "request" | "response";
      /** The ring index the entry was consumed from. */
      readonly index: number;
      /** The validator's (or decoder's) explanation. */
      readonly detail: string;
      /** The private copy of the entry's bytes (what was validated; never the live page). */
      readonly bytes: Uint8Array;
      /** The decoded value, when decoding succeeded (lets a backend answer with an error status). */
      readonly value?: unknown;
    }
  | {
      /** A byte ring (console, xenstore) whose `prod - cons` exceeds its size. */
      readonly reason: "byte-ring-index";
      readonly prod: number;
      readonly cons: number;
      readonly size: number;
    };

/** The `reason` of a RingFault: which protocol rule the peer broke. */
export type RingFaultReason = RingFault["reason"];

/** Stable error codes, one per fault reason. */
export const RING_ERROR_CODES = {
  "req-prod-overflow": "ERR_RING_REQ_PROD_OVERFLOW",
  "rsp-prod-overflow": "ERR_RING_RSP_PROD_OVERFLOW",
  "rsp-prod-beyond-requests": "ERR_RING_RSP_PROD_BEYOND_REQUESTS",
  "invalid-entry": "ERR_RING_INVALID_ENTRY",
  "byte-ring-index": "ERR_RING_BYTE_INDEX",
} as const satisfies Record<RingFaultReason, string>;
/** `code` of a RingProtocolError: the stable `ERR_RING_*` code for its fault reason (`RING_ERROR_CODES`). */
export type RingErrorCode = (typeof RING_ERROR_CODES)[RingFaultReason];

const hex = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

function describe(f: RingFault): string {
  switch (f.reason) {
    case "req-prod-overflow":
      return (
        `RING_REQUEST_PROD_OVERFLOW: frontend published req_prod=${hex(f.req_prod)} but req_cons=${hex(f.req_cons)}, ` +
        `rsp_prod_pvt=${hex(f.rsp_prod_pvt)}, RING_SIZE=${f.RING_SIZE} (req_prod - rsp_prod_pvt > RING_SIZE)`
      );
    case "rsp-prod-overflow":
      return (
        `RING_RESPONSE_PROD_OVERFLOW: backend published rsp_prod=${hex(f.rsp_prod)} but rsp_cons=${hex(f.rsp_cons)}, ` +
        `req_prod_pvt=${hex(f.req_prod_pvt)}, RING_SIZE=${f.RING_SIZE} (rsp_prod - rsp_cons > RING_SIZE)`
      );
    case "rsp-prod-beyond-requests":
      return (
        `backend published rsp_prod=${hex(f.rsp_prod)} but rsp_cons=${hex(f.rsp_cons)}, ` +
        `req_prod_pvt=${hex(f.req_prod_pvt)}: ${(f.rsp_prod - f.rsp_cons) >>> 0} responses for ${f.outstanding} ` +
        `outstanding requests (rsp_prod - rsp_cons > req_prod_pvt - rsp_cons)`
      );
    case "invalid-entry":
      return `invalid ${f.kind} at index ${hex(f.index)}: ${f.detail}`;
    case "byte-ring-index":
      return `corrupt byte ring: prod=${hex(f.prod)}, cons=${hex(f.cons)}, prod - cons > size=${f.size}`;
  }
}

/**
 * A protocol violation by the peer of a ring. For the fatal kinds (producer-index overflow,
 * more responses than requests outstanding, and invalid entries on a ring configured to halt)
 * the ring is halted and every later operation on it throws this same error object.
 */
export class RingProtocolError extends PvkitError {
  override readonly name: string = "RingProtocolError";
  declare readonly code: RingErrorCode;
  readonly reason: RingFaultReason;

  constructor(
    readonly fault: RingFault,
    /** The ring's label (from its options), for messages. */
    readonly ring?: string,
    options?: ErrorOptions,
  ) {
    super(
      RING_ERROR_CODES[fault.reason],
      `${ring === undefined ? "" : `${ring}: `}${describe(fault)}`,
      options,
    );
    this.reason = fault.reason;
  }
}
