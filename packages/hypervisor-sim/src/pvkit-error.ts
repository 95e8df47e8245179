/**
 * pvkit's own errors: one base class, `PvkitError`, with a stable `code` from one family of
 * `ERR_*` names (documented in docs/errors.md). They report what pvkit itself refused or found —
 * a handle used after `close()`, a bad option, a guest-side bookkeeping limit, a stalled host, a
 * leak — and never borrow an errno name.
 *
 * Errno names (`EINVAL`, `EROFS`, `ENOENT`, …) are kept for errors Xen or xenstored really
 * return: `XenError` and its subclasses (a hypercall's `-errno`, `xen/include/public/errno.h`;
 * a xenstored XS_ERROR, `io/xs_wire.h` `xsd_errors`), and a `GNTST_*` name for
 * `GrantStatusError` (`grant_table.h`). Callers match on `code` (or `instanceof`), never on the
 * message.
 */

/**
 * The `code` of a PvkitError. Each name is stable; a new condition gets a new name.
 *
 * - `ERR_CLOSED`: an object was used after its `close()` (`ClosedError`);
 * - `ERR_BAD_OPTION`: an option or argument a pvkit API was given is invalid;
 * - `ERR_NO_DOMAIN`: the host built no such domain, or it is already destroyed;
 * - `ERR_NAME_TAKEN`: a domain of that name exists (libxl refuses duplicate names);
 * - `ERR_BUILD`: a step of building a domain failed (`cause` has the error);
 * - `ERR_DEAD_MAPPING`: a page view was used after its mapping was removed;
 * - `ERR_READ_ONLY_MAPPING`: a write through a read-only page view;
 * - `ERR_STALLED`: the host went quiescent while something was still awaited (`StallError`);
 * - `ERR_NO_PAGES`: a guest page allocator has no free page left;
 * - `ERR_NO_GRANT_REFS`: every grant ref the grant table can hold is taken (or quarantined);
 * - `ERR_UNKNOWN_REF`: a grant ref this client did not grant (or already ended);
 * - `ERR_NO_MAP_SLOTS`: a mapping area (a grant mapper's, dom0's holes for foreign pages) has no
 *   hole left;
 * - `ERR_GRANT_IN_USE`: grants a peer still maps could not be ended (XSA-396: they are leaked);
 * - `ERR_CONSOLE_RING_INDEX`: the console backend left impossible ring indices (`ConsoleError`);
 * - `ERR_CONSOLE_OUTPUT_FULL`: console output would exceed `maxPendingBytes` (`ConsoleError`);
 * - `ERR_LEAK`: the testing kit's teardown found leaks (`LeakError`);
 * - `ERR_SANITIZER`: the testing kit's sanitizer found misuse (`SanitizerError`);
 * - `ERR_RING_REQ_PROD_OVERFLOW`, `ERR_RING_RSP_PROD_OVERFLOW`, `ERR_RING_RSP_PROD_BEYOND_REQUESTS`,
 *   `ERR_RING_INVALID_ENTRY`, `ERR_RING_BYTE_INDEX`: the peer of an `io/ring.h` or byte ring
 *   broke its protocol (the guest SDK's `RingProtocolError`; `fault.reason` has the detail).
 */
export type PvkitErrorCode =
  | "ERR_CLOSED"
  | "ERR_BAD_OPTION"
  | "ERR_NO_DOMAIN"
  | "ERR_NAME_TAKEN"
  | "ERR_BUILD"
  | "ERR_DEAD_MAPPING"
  | "ERR_READ_ONLY_MAPPING"
  | "ERR_STALLED"
  | "ERR_NO_PAGES"
  | "ERR_NO_GRANT_REFS"
  | "ERR_UNKNOWN_REF"
  | "ERR_NO_MAP_SLOTS"
  | "ERR_GRANT_IN_USE"
  | "ERR_CONSOLE_RING_INDEX"
  | "ERR_CONSOLE_OUTPUT_FULL"
  | "ERR_LEAK"
  | "ERR_SANITIZER"
  | "ERR_RING_REQ_PROD_OVERFLOW"
  | "ERR_RING_RSP_PROD_OVERFLOW"
  | "ERR_RING_RSP_PROD_BEYOND_REQUESTS"
  | "ERR_RING_INVALID_ENTRY"
  | "ERR_RING_BYTE_INDEX";

/** The base class of pvkit's own errors (see the file header); `name` is the subclass's. */
export class PvkitError extends Error {
  override readonly name: string = "PvkitError";
  /** The stable `ERR_*` code; match on it. */
  readonly code: PvkitErrorCode;

  constructor(code: PvkitErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The one error for a handle used after `close()` — an event channel, a grant client, a page
 * allocator, a grant mapper, a host, … `what` names it ("event channel port 5"), `op` the call
 * refused ("notify"). Nothing was done: no hypercall was issued (a closed port number or grant
 * ref may already belong to someone else).
 */
export class ClosedError extends PvkitError {
  override readonly name: string = "ClosedError";
  declare readonly code: "ERR_CLOSED";
  /** The closed object, e.g. "event channel port 5", "the grant client of d1". */
  readonly what: string;
  /** The operation refused, e.g. "notify". */
  readonly op: string;

  /**
   * @param what the closed object, as a message would name it.
   * @param op the operation that was attempted.
   */
  constructor(what: string, op: string) {
    super("ERR_CLOSED", `${op}: ${what} is closed`);
    this.what = what;
    this.op = op;
  }
}
