/**
 * Errors of the grants layer that are not a hypercall failure. Hypercall failures stay
 * `XenError` / `GrantStatusError` (`../errors.ts`); these report what the guest-side
 * bookkeeping refused, with a stable pvkit `code` (`ERR_*`, docs/errors.md) to match on. A
 * client, allocator or mapper used after `close()` throws `ClosedError` instead.
 */
import { PvkitError } from "@pvkit/hypervisor-sim";

/** The codes a `GrantError` can carry. */
export const GRANT_ERROR_CODES = {
  /** The page allocator's range has no free page left. */
  ERR_NO_PAGES: "ERR_NO_PAGES",
  /** Every grant ref up to `max_grant_frames` × 512 is taken (or quarantined). */
  ERR_NO_GRANT_REFS: "ERR_NO_GRANT_REFS",
  /** The ref was not granted by this client (never, or already ended). */
  ERR_UNKNOWN_REF: "ERR_UNKNOWN_REF",
  /** The mapping area has no hole left for another grant mapping. */
  ERR_NO_MAP_SLOTS: "ERR_NO_MAP_SLOTS",
  /**
   * Disposal found grants the peer still maps (XSA-396: they cannot be ended, their refs and
   * pages stay out of use). `refs` lists them.
   */
  ERR_GRANT_IN_USE: "ERR_GRANT_IN_USE",
} as const;

/** `code` of a GrantError. */
export type GrantErrorCode = keyof typeof GRANT_ERROR_CODES;

/** A grants-layer refusal (see `GRANT_ERROR_CODES`). */
export class GrantError extends PvkitError {
  override readonly name: string = "GrantError";
  declare readonly code: GrantErrorCode;
  /** The grant refs concerned, when the error is about particular refs. */
  readonly refs: readonly number[];

  /**
   * @param code why (see `GRANT_ERROR_CODES`).
   * @param message what was refused; the message is `"<code>: <message>"`.
   * @param refs the grant refs concerned, if any.
   */
  constructor(code: GrantErrorCode, message: string, refs: readonly number[] = []) {
    super(code, `${code}: ${message}`);
    this.refs = refs;
  }
}
