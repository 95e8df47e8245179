/**
 * The one error class of xenstored: `code` is the xsd error name sent in an XS_ERROR reply
 * (`"ENOENT"`, `"EACCES"` ...). Request handlers throw it; the dispatcher turns it into the reply.
 */
import type { XsdErrorName } from "./xs-wire.js";

export class XenstoreError extends Error {
  override readonly name = "XenstoreError";
  /** The xsd error name, as on the wire. */
  readonly code: XsdErrorName;
  /** The request type (`XS_*` name) that failed, when known. */
  readonly op: string | undefined;

  constructor(code: XsdErrorName, message?: string, op?: string) {
    super(message ?? (op ? `${op}: ${code}` : code));
    this.code = code;
    this.op = op;
  }
}

/** Throws a XenstoreError with `code`. */
export function fail(code: XsdErrorName, message?: string): never {
  throw new XenstoreError(code, message);
}
