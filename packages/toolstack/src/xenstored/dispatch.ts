/**
 * `process_message` of cxenstored 4.17: the request table and the checks made before any
 * handler runs, in this order: unknown type (and the server-only WATCH_EVENT and ERROR) ENOSYS,
 * privileged-only type from an unprivileged domain EACCES, non-zero tx_id naming no open
 * transaction ENOENT (WATCH and UNWATCH ignore tx_id).
 */
import type { Connection } from "./connection.js";
import type { XenstoredCore } from "./core.js";
import { XenstoreError } from "./errors.js";
import { doControl } from "./control-requests.js";
import {
  doGetDomainPath,
  doIntroduce,
  doIsDomainIntroduced,
  doRelease,
  doResume,
  doSetTarget,
} from "./domain-requests.js";
import {
  doDirectory,
  doDirectoryPart,
  doGetPerms,
  doMkdir,
  doRead,
  doRm,
  doSetPerms,
  doWrite,
} from "./node-requests.js";
import { doTransactionEnd, doTransactionStart } from "./transaction-requests.js";
import { doResetWatches, doUnwatch, doWatch } from "./watch-requests.js";
import type { Handler, Request } from "./request.js";
import type { Transaction } from "./transaction.js";
import {
  XS,
  xsBytes,
  xsTypeName,
  type XsdErrorName,
  type XsMessage,
} from "@pvkit/hypervisor-sim/abi";

interface Entry {
  readonly handler: Handler;
  /** `XS_FLAG_PRIV`: privileged connections only. */
  readonly priv?: boolean;
  /** `XS_FLAG_NOTID`: tx_id is ignored. */
  readonly notid?: boolean;
}

const TABLE = new Map<number, Entry>([
  [XS.XS_CONTROL, { handler: doControl, priv: true }],
  [XS.XS_DIRECTORY, { handler: doDirectory }],
  [XS.XS_READ, { handler: doRead }],
  [XS.XS_GET_PERMS, { handler: doGetPerms }],
  [XS.XS_WATCH, { handler: doWatch, notid: true }],
  [XS.XS_UNWATCH, { handler: doUnwatch, notid: true }],
  [XS.XS_TRANSACTION_START, { handler: doTransactionStart }],
  [XS.XS_TRANSACTION_END, { handler: doTransactionEnd }],
  [XS.XS_INTRODUCE, { handler: doIntroduce, priv: true }],
  [XS.XS_RELEASE, { handler: doRelease, priv: true }],
  [XS.XS_GET_DOMAIN_PATH, { handler: doGetDomainPath }],
  [XS.XS_WRITE, { handler: doWrite }],
  [XS.XS_MKDIR, { handler: doMkdir }],
  [XS.XS_RM, { handler: doRm }],
  [XS.XS_SET_PERMS, { handler: doSetPerms }],
  [XS.XS_IS_DOMAIN_INTRODUCED, { handler: doIsDomainIntroduced, priv: true }],
  [XS.XS_RESUME, { handler: doResume, priv: true }],
  [XS.XS_SET_TARGET, { handler: doSetTarget, priv: true }],
  [XS.XS_RESET_WATCHES, { handler: doResetWatches }],
  [XS.XS_DIRECTORY_PART, { handler: doDirectoryPart }],
]);

/** Called with anything a handler throws that is not a XenstoreError (a bug): the client gets EIO. */
/** {@link TABLE} by type number, for the lookup made on every request. */
const BY_TYPE: (Entry | undefined)[] = [];
for (const [type, entry] of TABLE) BY_TYPE[type] = entry;

export type InternalErrorSink = (err: unknown, conn: Connection, msg: XsMessage) => void;

/** `XS_ERROR` payloads (`<name>\0`), encoded once: queued payloads are never modified. */
const ERROR_PAYLOADS = new Map<string, Uint8Array>();

function sendError(conn: Connection, msg: XsMessage, code: XsdErrorName): void {
  let payload = ERROR_PAYLOADS.get(code);
  if (payload === undefined) {
    payload = xsBytes(`${code}\0`);
    ERROR_PAYLOADS.set(code, payload);
  }
  conn.queueReply(msg, XS.XS_ERROR, payload);
}

/** The {@link Request} a handler runs with (a class, so no closure is made per request). */
class RequestContext implements Request {
  readonly conn: Connection;
  readonly txn: Transaction | undefined;
  readonly msg: XsMessage;
  replied = false;

  constructor(conn: Connection, txn: Transaction | undefined, msg: XsMessage) {
    this.conn = conn;
    this.txn = txn;
    this.msg = msg;
  }

  reply(payload: Uint8Array | string): void {
    this.replied = true;
    this.conn.queueReply(
      this.msg,
      this.msg.type,
      typeof payload === "string" ? xsBytes(payload) : payload,
    );
  }
}

/** Processes one request on `conn`, queueing exactly one reply (or error). */
export function processMessage(
  xs: XenstoredCore,
  conn: Connection,
  msg: XsMessage,
  onInternalError: InternalErrorSink,
): void {
  const entry = msg.type < BY_TYPE.length ? BY_TYPE[msg.type] : undefined;
  if (!entry) return sendError(conn, msg, "ENOSYS");
  if (entry.priv && xs.unprivileged(conn)) return sendError(conn, msg, "EACCES");
  let txn: Transaction | undefined;
  if (!entry.notid && msg.tx_id !== 0) {
    txn = conn.transactions.get(msg.tx_id);
    if (!txn) return sendError(conn, msg, "ENOENT");
  }
  const req = new RequestContext(conn, txn, msg);
  try {
    entry.handler(xs, req);
  } catch (e) {
    if (req.replied) throw e;
    if (e instanceof XenstoreError) return sendError(conn, msg, e.code);
    onInternalError(e, conn, msg);
    return sendError(conn, msg, "EIO");
  }
}

/** The `XS_*` name of a request type, or `**UNKNOWN**` as cxenstored logs it. */
export function requestName(type: number): string {
  return xsTypeName(type) ?? "**UNKNOWN**";
}
