/**
 * The error of the host and domain builder: a `PvkitError` whose `code` is stable; callers
 * match on it (docs/errors.md). What Xen itself refuses (a hypercall's errno) is a `XenError`
 * instead, and a host used after `close()` throws `ClosedError`.
 */
import { PvkitError } from "@pvkit/hypervisor-sim";

/** Why a host operation failed. */
export type HostErrorCode =
  /** Bad options (memory, vcpus, device specs, names). */
  | "ERR_BAD_OPTION"
  /** No such domain (unknown to the host, already destroyed, or dying), or no such device. */
  | "ERR_NO_DOMAIN"
  /** The domain name is taken (libxl refuses duplicate names). */
  | "ERR_NAME_TAKEN"
  /** A step of building the domain failed (the cause is attached). */
  | "ERR_BUILD"
  /** Dom0's physmap has no hole left for more foreign mappings. */
  | "ERR_NO_MAP_SLOTS";

/** A host operation refused or failed (see `HostErrorCode`). */
export class HostError extends PvkitError {
  override readonly name: string = "HostError";
  declare readonly code: HostErrorCode;

  /**
   * @param code why.
   * @param message what was refused.
   * @param options `cause`: the underlying error (for ERR_BUILD).
   */
  constructor(code: HostErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
