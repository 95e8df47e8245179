/**
 * The pvrng wire format: one io/ring.h ring, one request per read.
 *
 * ```
 * struct pvrng_request { uint32_t id; grant_ref_t gref; uint16_t len; uint16_t pad; };  // 12 bytes
 * struct pvrng_response { uint32_t id; int16_t status; uint16_t len; };               // 8 bytes
 * ```
 * `gref` is a writable grant of one page the backend fills with `len` (1..4096) random bytes.
 */
import type { RingSpec } from "@pvkit/guest-sdk";

export interface RngRequest {
  id: number;
  gref: number;
  len: number;
}
export interface RngResponse {
  id: number;
  status: number;
  len: number;
}

export const TYPE = "pvrng";
export const MAX_LEN = 4096;

export const rngSpec: RingSpec<RngRequest, RngResponse> = {
  request: {
    size: 12,
    encode: (v, o) => (o.setU32(0, v.id), o.setU32(4, v.gref), o.setU16(8, v.len)),
    decode: (i) => ({ id: i.getU32(0), gref: i.getU32(4), len: i.getU16(8) }),
    validate: (v) =>
      v.len === 0 || v.len > MAX_LEN ? `length ${v.len} is not 1..${MAX_LEN}` : undefined,
  },
  response: {
    size: 8,
    encode: (v, o) => (o.setU32(0, v.id), o.setS16(4, v.status), o.setU16(6, v.len)),
    decode: (i) => ({ id: i.getU32(0), status: i.getS16(4), len: i.getU16(6) }),
  },
};

/** mulberry32: a tiny deterministic PRNG, so tests pin the bytes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) & 0xff;
  };
}
