/**
 * The generic shared ring of `xen/include/public/io/ring.h` (Xen 4.17): the `X_sring` header
 * and the ring-size arithmetic. Per-end private state (`X_front_ring` / `X_back_ring`) is not
 * shared memory and lives in the guest SDK.
 *
 * ```
 * struct X_sring {                        offset
 *     RING_IDX req_prod, req_event;       0, 4
 *     RING_IDX rsp_prod, rsp_event;       8, 12
 *     union {                             16
 *         struct { uint8_t smartpoll_active; } netif;
 *         struct { uint8_t msg; } tapif_user;
 *         uint8_t pvt_pad[4];
 *     } pvt;
 *     uint8_t __pad[44];                  20
 *     union X_sring_entry ring[1];        64   (variable length; each entry is union { req; rsp; })
 * };
 * ```
 *
 * A ring of 2^order pages is one contiguous area of `4096 << order` bytes; the header exists
 * only at the start of page 0 and entry `i` lives at byte `64 + (i & (RING_SIZE - 1)) * sizeof(entry)`.
 */
import { isU32, type Layout } from "../struct.js";

/** `RING_IDX`: a free-running u32 index; all arithmetic on it is modulo 2^32. */
export type RING_IDX = number;

/** The 64-byte `X_sring` header in front of the entry array. */
export const sring = {
  req_prod: [0, 4],
  req_event: [4, 4],
  rsp_prod: [8, 4],
  rsp_event: [12, 4],
  pvt: [16, 4],
  __pad: [20, 44],
} as const satisfies Layout;

/** `offsetof(struct X_sring, ring)`: entries start 64 bytes into page 0. */
export const SRING_RING_OFFSET = 64;

/** Values `SHARED_RING_INIT` stores: producers 0, event indices 1, `pvt` and `__pad` zeroed. */
export const SHARED_RING_INIT_VALUES = {
  req_prod: 0,
  rsp_prod: 0,
  req_event: 1,
  rsp_event: 1,
} as const;

/**
 * `__RD32(x)`: rounds `x` (a u32) down to a power of two, built exactly like the C macro chain
 * `__RD2` … `__RD32` (0 stays 0). Throws RangeError for values that are not u32 integers.
 */
export function __RD32(x: number): number {
  if (!isU32(x)) throw new RangeError(`__RD32: ${x} is not a u32`);
  const rd2 = (v: number): number => (v & 0x2 ? 0x2 : v & 0x1);
  const rd4 = (v: number): number => (v & 0xc ? rd2(v >>> 2) << 2 : rd2(v));
  const rd8 = (v: number): number => (v & 0xf0 ? rd4(v >>> 4) << 4 : rd4(v));
  const rd16 = (v: number): number => (v & 0xff00 ? rd8(v >>> 8) << 8 : rd8(v));
  return (x & 0xffff0000 ? rd16(x >>> 16) * 0x10000 : rd16(x)) >>> 0;
}

/**
 * `__RING_SIZE` / `__CONST_RING_SIZE`: the number of entries (a power of two) a ring of
 * `totalBytes` holds when each `union X_sring_entry` is `entrySize` bytes:
 * `__RD32((totalBytes - 64) / entrySize)` with C integer division.
 * Returns 0 when not even one entry fits (a caller must refuse such a ring).
 * @throws RangeError for a non-positive entry size or a total smaller than the header.
 */
export function __RING_SIZE(totalBytes: number, entrySize: number): number {
  if (!Number.isInteger(entrySize) || entrySize <= 0)
    throw new RangeError(`entry size ${entrySize} must be a positive integer`);
  if (!isU32(totalBytes) || totalBytes < SRING_RING_OFFSET) {
    throw new RangeError(
      `ring area of ${totalBytes} bytes cannot hold the ${SRING_RING_OFFSET}-byte header`,
    );
  }
  return __RD32(Math.floor((totalBytes - SRING_RING_OFFSET) / entrySize));
}
