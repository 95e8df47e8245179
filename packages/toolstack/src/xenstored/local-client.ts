/**
 * A synchronous in-process xenstore client over one {@link Connection}, for dom0-side code
 * (the domain builder) and tests. Every call sends real `xsd_sockmsg` bytes and decodes the
 * reply; an XS_ERROR reply throws XenstoreError with the error name as `code`. Watch events are
 * collected and handed out by {@link XsLocalClient.takeEvents}.
 */
import type { Connection } from "./connection.js";
import { decodeWatchEvent } from "./connection.js";
import { XenstoreError } from "./errors.js";
import { getStrings } from "./payload.js";
import {
  encodeXsMessage,
  isXsdErrorName,
  type XsdErrorName,
  nulJoin,
  XS,
  xsBytes,
  xsString,
  xsTypeName,
} from "@pvkit/hypervisor-sim/abi";

export interface WatchEvent {
  readonly path: string;
  readonly token: string;
}

export class XsLocalClient {
  readonly conn: Connection;
  #events: WatchEvent[] = [];
  #reqId = 0;

  constructor(conn: Connection) {
    this.conn = conn;
  }

  /**
   * Sends one request and returns the reply payload.
   * @throws XenstoreError on an XS_ERROR reply (unknown names map to EINVAL, as libxenstore does).
   * @throws Error if the connection is closed or produced no reply.
   */
  request(type: number, payload: Uint8Array | string, tx_id = 0): Uint8Array {
    return this.#exchange(type, payload, tx_id, undefined) as Uint8Array;
  }

  /**
   * {@link request} for callers to whom one error is an answer (ENOENT from RM or READ, say):
   * an XS_ERROR reply naming `expected` is returned as that name, without building and throwing
   * a XenstoreError (its stack trace is most of the cost of such a request). The bytes on the
   * wire are the same.
   * @throws XenstoreError on any other XS_ERROR reply; Error as {@link request}.
   */
  requestOr<E extends XsdErrorName>(
    expected: E,
    type: number,
    payload: Uint8Array | string,
    tx_id = 0,
  ): Uint8Array | E {
    return this.#exchange(type, payload, tx_id, expected) as Uint8Array | E;
  }

  #exchange(
    type: number,
    payload: Uint8Array | string,
    tx_id: number,
    expected: XsdErrorName | undefined,
  ): Uint8Array | XsdErrorName {
    const p = typeof payload === "string" ? xsBytes(payload) : payload;
    const req_id = this.#reqId++ >>> 0;
    this.conn.receive(encodeXsMessage({ type, req_id, tx_id, payload: p }));
    let reply: Uint8Array | XsdErrorName | undefined;
    let error: string | undefined;
    for (const m of this.conn.takeAll()) {
      if (m.type === XS.XS_WATCH_EVENT) {
        this.#events.push(decodeWatchEvent(m.payload));
      } else if (reply === undefined && error === undefined && m.req_id === req_id) {
        if (m.type === XS.XS_ERROR) {
          // As a thrown error always did: what came after the error reply is not looked at.
          const name = xsString(m.payload).replace(/\0$/, "");
          if (name === expected) reply = expected;
          else error = name;
          break;
        } else {
          reply = m.payload;
        }
      }
    }
    if (error !== undefined) {
      const op = xsTypeName(type) ?? String(type);
      throw new XenstoreError(isXsdErrorName(error) ? error : "EINVAL", `${op}: ${error}`, op);
    }
    if (reply === undefined) {
      const op = xsTypeName(type) ?? String(type);
      throw new Error(`${op}: no reply (connection ${this.conn.closeReason ?? "open"})`);
    }
    return reply;
  }

  /** Watch events received so far (and clears them). */
  takeEvents(): WatchEvent[] {
    const e = this.#events;
    this.#events = [];
    return e;
  }

  /** Also collects events queued since the last request. */
  pollEvents(): WatchEvent[] {
    for (const m of this.conn.takeAll())
      if (m.type === XS.XS_WATCH_EVENT) this.#events.push(decodeWatchEvent(m.payload));
    return this.takeEvents();
  }

  read(path: string, tx = 0): Uint8Array {
    return this.request(XS.XS_READ, nulJoin([path]), tx);
  }

  readString(path: string, tx = 0): string {
    return xsString(this.read(path, tx));
  }

  write(path: string, value: Uint8Array | string, tx = 0): void {
    const v = typeof value === "string" ? xsBytes(value) : value;
    const head = nulJoin([path]);
    const p = new Uint8Array(head.length + v.length);
    p.set(head);
    p.set(v, head.length);
    this.request(XS.XS_WRITE, p, tx);
  }

  mkdir(path: string, tx = 0): void {
    this.request(XS.XS_MKDIR, nulJoin([path]), tx);
  }

  rm(path: string, tx = 0): void {
    this.request(XS.XS_RM, nulJoin([path]), tx);
  }

  directory(path: string, tx = 0): string[] {
    return getStrings(this.request(XS.XS_DIRECTORY, nulJoin([path]), tx));
  }

  getPerms(path: string, tx = 0): string[] {
    return getStrings(this.request(XS.XS_GET_PERMS, nulJoin([path]), tx));
  }

  setPerms(path: string, perms: readonly string[], tx = 0): void {
    this.request(XS.XS_SET_PERMS, nulJoin([path, ...perms]), tx);
  }

  watch(path: string, token: string): void {
    this.request(XS.XS_WATCH, nulJoin([path, token]));
  }

  unwatch(path: string, token: string): void {
    this.request(XS.XS_UNWATCH, nulJoin([path, token]));
  }

  /** @returns the transaction id. */
  transactionStart(): number {
    return Number(getStrings(this.request(XS.XS_TRANSACTION_START, nulJoin([""])))[0]);
  }

  /** Commits (or aborts); throws XenstoreError EAGAIN on a conflict. */
  transactionEnd(tx: number, commit = true): void {
    this.request(XS.XS_TRANSACTION_END, nulJoin([commit ? "T" : "F"]), tx);
  }

  getDomainPath(domid: number): string {
    return getStrings(this.request(XS.XS_GET_DOMAIN_PATH, nulJoin([String(domid)])))[0]!;
  }

  introduce(domid: number, mfn: number, evtchn: number): void {
    this.request(XS.XS_INTRODUCE, nulJoin([String(domid), String(mfn), String(evtchn)]));
  }

  release(domid: number): void {
    this.request(XS.XS_RELEASE, nulJoin([String(domid)]));
  }

  isDomainIntroduced(domid: number): boolean {
    return (
      getStrings(this.request(XS.XS_IS_DOMAIN_INTRODUCED, nulJoin([String(domid)])))[0] === "T"
    );
  }
}
