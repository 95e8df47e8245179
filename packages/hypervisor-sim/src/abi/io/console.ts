/**
 * The PV console ring page of `xen/include/public/io/console.h` (Xen 4.17).
 *
 * ```
 * typedef uint32_t XENCONS_RING_IDX;
 * struct xencons_interface {          offset  size
 *     char in[1024];                  0       1024   backend -> guest (keyboard input)
 *     char out[2048];                 1024    2048   guest -> backend (output)
 *     XENCONS_RING_IDX in_cons;       3072    4
 *     XENCONS_RING_IDX in_prod;       3076    4
 *     XENCONS_RING_IDX out_cons;      3080    4
 *     XENCONS_RING_IDX out_prod;      3084    4
 * };                                  sizeof = 3088
 * ```
 *
 * Indices are free-running u32 byte counters; byte `i` of a stream sits at
 * `MASK_XENCONS_IDX(i, ring)` = `i & (sizeof(ring) - 1)`. (Xen `master` appends a
 * `connection` byte at 3088; 4.17 has none, so it is not described here.)
 */
import type { Layout } from "../struct.js";

/** `XENCONS_RING_IDX`: a free-running u32 byte counter. */
export type XENCONS_RING_IDX = number;

/** `sizeof(((struct xencons_interface *)0)->in)`. */
export const XENCONS_IN_SIZE = 1024;
/** `sizeof(((struct xencons_interface *)0)->out)`. */
export const XENCONS_OUT_SIZE = 2048;

export const xencons_interface = {
  in: [0, XENCONS_IN_SIZE],
  out: [1024, XENCONS_OUT_SIZE],
  in_cons: [3072, 4],
  in_prod: [3076, 4],
  out_cons: [3080, 4],
  out_prod: [3084, 4],
} as const satisfies Layout;

/** `sizeof(struct xencons_interface)`. */
export const XENCONS_INTERFACE_SIZE = 3088;

/** `MASK_XENCONS_IDX(idx, ring)` where `ringSize` is `sizeof(ring)` (1024 or 2048). */
export function MASK_XENCONS_IDX(
  idx: number,
  ringSize: typeof XENCONS_IN_SIZE | typeof XENCONS_OUT_SIZE,
): number {
  return (idx & (ringSize - 1)) >>> 0;
}
