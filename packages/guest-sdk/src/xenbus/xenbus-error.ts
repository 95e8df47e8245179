/**
 * The error of the xenbus client. It is a `XenError` (callers match on `code`), extended with
 * the xenstore path and the reason:
 *
 * - `"error-reply"`: xenstored answered XS_ERROR; `code` is its errno name ("ENOENT", "EACCES",
 *   "EAGAIN", ...). A name Xen does not define (oxenstored's "EQUOTA") becomes EINVAL, as
 *   libxenstore does, and is kept in `serverName`;
 * - `"request-too-large"`: the request payload would exceed 4096 bytes (E2BIG; nothing was sent);
 * - `"closed"`: the client was closed (EIO);
 * - `"ring-error"`: xenstored set the ring's `error` field (EIO; `ringError` has the value);
 * - `"ring-corrupt"`: the response ring's indices are impossible (`prod - cons > 1024`) (EIO);
 * - `"protocol"`: xenstored sent a reply of the wrong type or over 4096 bytes (EIO).
 */
import {
  XEN_ERRNO,
  type XenErrnoName,
  isXsdErrorName,
  xsTypeName,
} from "@pvkit/hypervisor-sim/abi";
import { XenError } from "../errors.js";

/** Why a xenbus request failed. */
export type XenbusFailure =
  | "error-reply"
  | "request-too-large"
  | "closed"
  | "ring-error"
  | "ring-corrupt"
  | "protocol";

/** Details of a XenbusError. */
export interface XenbusErrorInit {
  readonly reason: XenbusFailure;
  /** The request type (`XS_*` number). */
  readonly type?: number | undefined;
  /** The path (or first argument) of the request, as the caller gave it. */
  readonly path?: string | undefined;
  /** What xenstored sent in XS_ERROR, verbatim. */
  readonly serverName?: string | undefined;
  /** The ring's `error` field, for `ring-error`. */
  readonly ringError?: number | undefined;
  /** More text for the message. */
  readonly detail?: string | undefined;
}

function errnoFor(init: XenbusErrorInit): XenErrnoName {
  switch (init.reason) {
    case "error-reply": {
      const n = init.serverName ?? "";
      return isXsdErrorName(n) ? n : "EINVAL";
    }
    case "request-too-large":
      return "E2BIG";
    default:
      return "EIO";
  }
}

/**
 * A failed xenstore request or a broken connection: a `XenError` whose `code` is xenstored's
 * error name (ENOENT, EACCES, EAGAIN, ...) or EIO, with a `reason` saying which.
 */
export class XenbusError extends XenError {
  override readonly name: string = "XenbusError";
  readonly reason: XenbusFailure;
  /** The path of the failed request, if it had one. */
  readonly path: string | undefined;
  /** What xenstored sent in XS_ERROR (may differ from `code` for unknown names). */
  readonly serverName: string | undefined;
  /** The ring's `error` field value, for `ring-error`. */
  readonly ringError: number | undefined;

  constructor(init: XenbusErrorInit) {
    const code = errnoFor(init);
    const op = init.type === undefined ? "xenbus" : (xsTypeName(init.type) ?? `XS_${init.type}`);
    const bits = [
      init.path !== undefined ? `path ${JSON.stringify(init.path)}` : undefined,
      init.reason !== "error-reply" ? init.reason : undefined,
      init.serverName !== undefined && init.serverName !== code
        ? `xenstored said ${init.serverName}`
        : undefined,
      init.ringError !== undefined ? `ring error ${init.ringError}` : undefined,
      init.detail,
    ].filter((s): s is string => s !== undefined);
    super(op, -XEN_ERRNO[code], bits.join(", "));
    this.reason = init.reason;
    this.path = init.path;
    this.serverName = init.serverName;
    this.ringError = init.ringError;
  }
}
