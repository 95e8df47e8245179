/**
 * Errors of the grants layer that are not a hypercall failure. Hypercall failures stay
 * `XenError` / `GrantStatusError` (`../errors.ts`); these report what the guest-side
 * bookkeeping refused, with a stable `code` to match on.
 */

/** The codes a `GrantError` can carry. */
export const GRANT_ERROR_CODES = {
  /** The page allocator's range has no free page left. */
  ENOPAGES: "ENOPAGES",
  /** Every grant ref up to `max_grant_frames` × 512 is taken (or quarantined). */
  ENOGRANTREFS: "ENOGRANTREFS",
  /** The ref was not granted by this client (never, or already ended). */
  EUNKNOWNREF: "EUNKNOWNREF",
  /** The mapping area has no hole left for another grant mapping. */
  ENOMAPSLOTS: "ENOMAPSLOTS",
  /** The client, allocator or mapper was closed. */
  ECLOSED: "ECLOSED",
  /**
   * Disposal found grants the peer still maps (XSA-396: they cannot be ended, their refs and
   * pages stay out of use). `refs` lists them.
   */
  EGRANTINUSE: "EGRANTINUSE",
} as const;

/** `code` of a GrantError. */
export type GrantErrorCode = keyof typeof GRANT_ERROR_CODES;

/** A grants-layer refusal (see `GRANT_ERROR_CODES`). */
export class GrantError extends Error {
  override readonly name = "GrantError";
  readonly code: GrantErrorCode;
  /** The grant refs concerned, when the error is about particular refs. */
  readonly refs: readonly number[];

  constructor(code: GrantErrorCode, message: string, refs: readonly number[] = []) {
    super(`${code}: ${message}`);
    this.code = code;
    this.refs = refs;
  }
}
