/**
 * The one error class of xenstored: `code` is the xsd error name sent in an XS_ERROR reply
 * (`"ENOENT"`, `"EACCES"` ...). Request handlers throw it; the dispatcher turns it into the reply.
 */
import type { XsdErrorName } from "@pvkit/hypervisor-sim/abi";

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

/**
 * A XenstoreError without a stack trace, for errors xenstored turns into an XS_ERROR reply at
 * once (capturing the stack is most of an Error's cost, and nobody sees it).
 */
export function replyError(code: XsdErrorName, message?: string): XenstoreError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new XenstoreError(code, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Throws a XenstoreError with `code` (stackless: the dispatcher makes it the reply). */
export function fail(code: XsdErrorName, message?: string): never {
  throw replyError(code, message);
}
