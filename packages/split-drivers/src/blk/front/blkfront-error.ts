/**
 * The one error type of blkfront. `reason` says what happened; the first group disables the
 * device for further use, as the hardened Linux blkfront does (xen-blkfront.c: blkif_interrupt's
 * `err:` label sets BLKIF_STATE_ERROR, "disabled for further use"):
 *
 * | reason                 | Linux's check (blkif_interrupt / blkif_completion)                |
 * |------------------------|--------------------------------------------------------------------|
 * | `ring-protocol`        | RING_RESPONSE_PROD_OVERFLOW, "illegal number of responses %u"; also |
 * |                        | more responses than requests outstanding (the SDK ring's halt)     |
 * | `bad-response-id`      | `id >= BLK_RING_SIZE`: "response has incorrect id (%ld)"           |
 * | `response-not-pending` | shadow not REQ_WAITING: "response references no pending request"   |
 * | `wrong-operation`      | "response has wrong operation (%u instead of %u)"                  |
 * | `grant-still-mapped`   | gnttab_try_end_foreign_access failed on a non-persistent grant      |
 * |                        | after the response (XSA-396): "backed has not unmapped grant: %u"   |
 *
 * The others fail one request: `io-error` (BLKIF_RSP_ERROR), `not-supported` (EOPNOTSUPP, or a
 * feature the backend never offered), `out-of-range` and `read-only` and `invalid-argument`
 * (refused before anything reaches the ring), `no-memory` (no page or grant ref to bounce the
 * data through), `disabled` (the device was disabled; `cause` is the disabling error), and
 * `disconnected` (the device was unplugged or its driver unregistered with the request pending).
 */

/** Why a blkfront operation failed, or why the device was disabled. */
export type BlkfrontErrorReason =
  | "ring-protocol"
  | "bad-response-id"
  | "response-not-pending"
  | "wrong-operation"
  | "grant-still-mapped"
  | "io-error"
  | "not-supported"
  | "out-of-range"
  | "read-only"
  | "invalid-argument"
  | "no-memory"
  | "disabled"
  | "disconnected";

/** Reasons that disable the device (Linux BLKIF_STATE_ERROR). */
export const BLKFRONT_DISABLING_REASONS: ReadonlySet<BlkfrontErrorReason> = new Set([
  "ring-protocol",
  "bad-response-id",
  "response-not-pending",
  "wrong-operation",
  "grant-still-mapped",
]);

/** A blkfront failure; match on `reason`. `device` names the vbd ("device/vbd/51712"). */
export class BlkfrontError extends Error {
  override readonly name = "BlkfrontError";

  constructor(
    readonly reason: BlkfrontErrorReason,
    readonly device: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${device}: ${detail}`, options);
  }

  /** Whether this error disabled the device. */
  get disabling(): boolean {
    return BLKFRONT_DISABLING_REASONS.has(this.reason);
  }
}
