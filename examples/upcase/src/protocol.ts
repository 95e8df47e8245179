/**
 * The upcase wire format: one io/ring.h ring, one request per string.
 *
 * ```
 * struct upcase_request  { uint32_t id; grant_ref_t gref; uint16_t len; uint16_t pad; }; // 12 bytes
 * struct upcase_response { uint32_t id; int16_t status; uint16_t len; };                // 8 bytes
 * ```
 * `gref` is a writable grant of one page holding `len` (1..4096) bytes of text; the backend
 * upper-cases its ASCII letters in place.
 */
import type { RingSpec } from "@pvkit/guest-sdk";

export interface UpcaseRequest { id: number; gref: number; len: number }
export interface UpcaseResponse { id: number; status: number; len: number }

/** The device type: the frontend is `device/upcase/<n>`, the backend `backend/upcase/<domid>/<n>`. */
export const TYPE = "upcase";
export const MAX_LEN = 4096;
/** Status of a request whose page the backend could not map (-EINVAL). */
export const STATUS_BAD_GREF = -22;

export const upcaseSpec: RingSpec<UpcaseRequest, UpcaseResponse> = {
  request: {
    size: 12,
    encode: (v, o) => (o.setU32(0, v.id), o.setU32(4, v.gref), o.setU16(8, v.len)),
    decode: (i) => ({ id: i.getU32(0), gref: i.getU32(4), len: i.getU16(8) }),
    validate: (v) => (v.len === 0 || v.len > MAX_LEN ? `length ${v.len} is not 1..${MAX_LEN}` : undefined),
  },
  response: {
    size: 8,
    encode: (v, o) => (o.setU32(0, v.id), o.setS16(4, v.status), o.setU16(6, v.len)),
    decode: (i) => ({ id: i.getU32(0), status: i.getS16(4), len: i.getU16(6) }),
  },
};
