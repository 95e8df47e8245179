/**
 * The echo device's wire formats: the ring protocol and the hand-off page.
 *
 * ```
 * struct echo_request {            struct echo_response {
 *     uint32_t id;        // @0        uint32_t id;      // @0
 *     grant_ref_t in;     // @4        int16_t  status;  // @4  0 or -EINVAL
 *     grant_ref_t out;    // @8        uint16_t len;     // @6  bytes echoed
 *     uint16_t len;       // @12   };                    // 8 bytes
 *     uint16_t pad;       // @14
 * };                      // 16 bytes: RING_SIZE = __RD32((4096 - 64) / 16) = 128
 *
 * hand-off page (granted read-only by the frontend to the backend):
 *     @0 u8 go  @4 u32 ring-ref  @8 u32 event-channel port
 * ```
 *
 * `in` is a read-only grant of the data to echo, `out` a writable grant the backend copies the
 * echo into. Without xenstore the hand-off page plays its part: the frontend writes the ring's
 * grant ref and its port, then sets `go` last; the backend reads them only once `go` is 1.
 */
import type { RingSpec } from "@pvkit/guest-sdk";

export interface EchoRequest {
  id: number;
  in: number;
  out: number;
  len: number;
}

export interface EchoResponse {
  id: number;
  status: number;
  len: number;
}

/** A page holds at most this many bytes of data. */
export const MAX_LEN = 4096;
/** `status` of a request the backend refused. */
export const ECHO_EINVAL = -22;

export const echoSpec: RingSpec<EchoRequest, EchoResponse> = {
  request: {
    size: 16,
    encode: (v, out) => {
      out.setU32(0, v.id);
      out.setU32(4, v.in);
      out.setU32(8, v.out);
      out.setU16(12, v.len);
    },
    decode: (i) => ({ id: i.getU32(0), in: i.getU32(4), out: i.getU32(8), len: i.getU16(12) }),
    validate: (v) => (v.len > MAX_LEN ? `length ${v.len} exceeds a page` : undefined),
  },
  response: {
    size: 8,
    encode: (v, out) => {
      out.setU32(0, v.id);
      out.setS16(4, v.status);
      out.setU16(6, v.len);
    },
    decode: (i) => ({ id: i.getU32(0), status: i.getS16(4), len: i.getU16(6) }),
  },
};

/** Byte offsets in the hand-off page. */
export const HANDOFF = { go: 0, ringRef: 4, port: 8 } as const;
