/**
 * The one error class of the host and domain builder. `code` is stable; callers match on it.
 */

/** Why a host operation failed. */
export type HostErrorCode =
  /** Bad options (memory, vcpus, device specs, names). */
  | "EINVAL"
  /** No such domain (unknown, already destroyed, or dying). */
  | "ESRCH"
  /** A privilege check failed. */
  | "EPERM"
  /** The domain name is taken (libxl refuses duplicate names). */
  | "EEXIST"
  /** The host is closed. */
  | "ECLOSED"
  /** A step of building the domain failed (the cause is attached). */
  | "EBUILD";

export class HostError extends Error {
  override readonly name = "HostError";
  readonly code: HostErrorCode;

  constructor(code: HostErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
