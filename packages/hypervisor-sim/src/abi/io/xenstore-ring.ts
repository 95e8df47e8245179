/**
 * The XenStore ring page of `xen/include/public/io/xs_wire.h` and `docs/misc/xenstore-ring.txt`
 * (Xen 4.17). The `xsd_sockmsg` message format carried inside it is a separate concern.
 *
 * ```
 * typedef uint32_t XENSTORE_RING_IDX;
 * struct xenstore_domain_interface {  offset  size
 *     char req[1024];                 0       1024   guest -> xenstored
 *     char rsp[1024];                 1024    1024   replies and watch events
 *     XENSTORE_RING_IDX req_cons;     2048    4
 *     XENSTORE_RING_IDX req_prod;     2052    4
 *     XENSTORE_RING_IDX rsp_cons;     2056    4
 *     XENSTORE_RING_IDX rsp_prod;     2060    4
 *     uint32_t server_features;       2064    4
 *     uint32_t connection;            2068    4
 *     uint32_t error;                 2072    4
 * };                                  sizeof = 2076
 * ```
 *
 * Indices are free-running u32 byte counters; byte `i` sits at `MASK_XENSTORE_IDX(i)`.
 * xenstored treats `prod - cons > XENSTORE_RING_SIZE` as a broken ring (XENSTORE_ERROR_RINGIDX).
 */
import type { Layout } from "../struct.js";

/** `XENSTORE_RING_IDX`: a free-running u32 byte counter. */
export type XENSTORE_RING_IDX = number;

/** `XENSTORE_RING_SIZE`: bytes in each of `req` and `rsp`. */
export const XENSTORE_RING_SIZE = 1024;

export const xenstore_domain_interface = {
  req: [0, XENSTORE_RING_SIZE],
  rsp: [1024, XENSTORE_RING_SIZE],
  req_cons: [2048, 4],
  req_prod: [2052, 4],
  rsp_cons: [2056, 4],
  rsp_prod: [2060, 4],
  server_features: [2064, 4],
  connection: [2068, 4],
  error: [2072, 4],
} as const satisfies Layout;

/** `sizeof(struct xenstore_domain_interface)`. */
export const XENSTORE_DOMAIN_INTERFACE_SIZE = 2076;

/** `MASK_XENSTORE_IDX(idx)`. */
export function MASK_XENSTORE_IDX(idx: number): number {
  return (idx & (XENSTORE_RING_SIZE - 1)) >>> 0;
}

/** `XENSTORE_SERVER_FEATURE_RECONNECTION`: the ring can be reset through `connection`. */
export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
/** `XENSTORE_SERVER_FEATURE_ERROR`: the `error` field is maintained. */
export const XENSTORE_SERVER_FEATURE_ERROR = 2;

/** `XENSTORE_CONNECTED`: the steady state (only the server writes it). */
export const XENSTORE_CONNECTED = 0;
/** `XENSTORE_RECONNECT`: reconnect requested (only the guest writes it). */
export const XENSTORE_RECONNECT = 1;

/** `XENSTORE_ERROR_*` values of the `error` field. */
export const XENSTORE_ERROR = {
  XENSTORE_ERROR_NONE: 0,
  XENSTORE_ERROR_COMM: 1,
  XENSTORE_ERROR_RINGIDX: 2,
  XENSTORE_ERROR_PROTO: 3,
} as const;
export type XenstoreErrorName = keyof typeof XENSTORE_ERROR;
