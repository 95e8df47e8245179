/**
 * The errors of the guest SDK's Xen layer: the upper of two error tiers (codes below, throws here).
 *
 * The raw hypercall surface (`@pvkit/hypervisor-sim`) returns `-errno` and writes per-element
 * `GNTST_*` statuses; it never throws. The wrappers in `hypercall/` turn those into:
 *
 * - `XenError`: a hypercall returned a negative Xen errno (`code` = "EINVAL", `errno` = 22);
 * - `GrantStatusError`: a batched grant operation succeeded as a hypercall but an element's
 *   `status` is a negative `GNTST_*` code (`code` = "GNTST_bad_gntref", `status` = -3);
 *
 * These are the errors whose `code` is a real errno or GNTST_* name. pvkit's own refusals are
 * `PvkitError`s with `ERR_*` codes (docs/errors.md); a handle used after `close()` — an
 * `EventChannel` included — throws `ClosedError` (no hypercall is issued: the port number may
 * already belong to someone else). Callers match on the stable `code` field (or `instanceof`),
 * never on `message`.
 */
import {
  errnoName,
  gntstName,
  type GnttabStatusName,
  type XenErrnoName,
} from "@pvkit/hypervisor-sim/abi";

/** `code` of a XenError: Xen's errno name, or `E<n>` for a value `xen/errno.h` does not name. */
export type XenErrorCode = XenErrnoName | `E${number}`;

/** A hypercall failed with a negative Xen errno (`xen/include/public/errno.h`). */
export class XenError extends Error {
  /** "XenError"; each subclass reports its own name ("XenbusError", "XenbusDeviceError", ...). */
  override readonly name: string = "XenError";
  /** Xen's errno name, e.g. "EINVAL". */
  readonly code: XenErrorCode;
  /** The positive errno value, e.g. 22. */
  readonly errno: number;
  /** The operation, with Xen's spelling, e.g. "EVTCHNOP_bind_interdomain". */
  readonly op: string;

  /**
   * @param op the operation that failed ("EVTCHNOP_send", "XENMEM_add_to_physmap", ...).
   * @param rc the hypercall's result; its absolute value is the errno.
   * @param detail optional context appended to the message (the arguments, say).
   */
  constructor(op: string, rc: number, detail?: string) {
    const errno = Math.abs(rc);
    const code: XenErrorCode = errnoName(errno) ?? `E${errno}`;
    super(`${op} failed: ${code} (-${errno})${detail ? `: ${detail}` : ""}`);
    this.code = code;
    this.errno = errno;
    this.op = op;
  }

  /** Returns `rc` when it is 0 or positive; throws XenError(op, rc) when it is negative. */
  static check(op: string, rc: number, detail?: () => string): number {
    if (rc < 0) throw new XenError(op, rc, detail?.());
    return rc;
  }
}

/** `code` of a GrantStatusError: the `GNTST_*` name, or `GNTST_<n>` for an unnamed value. */
export type GrantStatusCode = GnttabStatusName | `GNTST_${number}`;

/**
 * One element of a batched grant-table operation failed (`grant_table.h`, GNTST_*). The hypercall
 * itself returned 0; Xen processed every element, and `batch` holds all of them with the
 * `status` (and other OUT fields) Xen wrote back, so the caller can see what else succeeded.
 */
export class GrantStatusError extends Error {
  override readonly name = "GrantStatusError";
  /** The status name, e.g. "GNTST_bad_gntref". */
  readonly code: GrantStatusCode;
  /** The (negative) status value, e.g. -3. */
  readonly status: number;
  /** The operation, e.g. "GNTTABOP_map_grant_ref". */
  readonly op: string;
  /** Index in the batch of the first element that failed. */
  readonly index: number;
  /** The whole batch as Xen wrote it back. */
  readonly batch: readonly unknown[];

  constructor(
    op: string,
    index: number,
    status: number,
    batch: readonly unknown[],
    detail?: string,
  ) {
    const code: GrantStatusCode = gntstName(status) ?? `GNTST_${status}`;
    super(`${op}[${index}] failed: ${code} (${status})${detail ? `: ${detail}` : ""}`);
    this.code = code;
    this.status = status;
    this.op = op;
    this.index = index;
    this.batch = batch;
  }
}
