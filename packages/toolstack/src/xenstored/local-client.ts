/**
 * A synchronous in-process xenstore client over one {@link Connection}, for dom0-side code
 * (the domain builder) and tests. Every call sends real `xsd_sockmsg` bytes and decodes the
 * reply; an XS_ERROR reply throws XenstoreError with the error name as `code`. Watch events are
 * collected and handed out by {@link XsLocalClient.takeEvents}.
 */
import type { Connection } from "./connection.js";
import { decodeWatchEvent } from "./connection.js";
import { XenstoreError } from "./errors.js";
import { bytesOf, getStrings, latin1, nulStrings } from "./payload.js";
import { encodeMessage } from "./wire.js";
import { isXsdErrorName, XS, xsTypeName } from "./xs-wire.js";

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
    const p = typeof payload === "string" ? bytesOf(payload) : payload;
    const req_id = this.#reqId++ >>> 0;
    this.conn.receive(encodeMessage({ type, req_id, tx_id, payload: p }));
    const op = xsTypeName(type) ?? String(type);
    let reply: Uint8Array | undefined;
    for (const m of this.conn.takeAll()) {
      if (m.type === XS.XS_WATCH_EVENT) {
        this.#events.push(decodeWatchEvent(m.payload));
      } else if (reply === undefined && m.req_id === req_id) {
        if (m.type === XS.XS_ERROR) {
          const name = latin1(m.payload).replace(/\0$/, "");
          throw new XenstoreError(isXsdErrorName(name) ? name : "EINVAL", `${op}: ${name}`, op);
        }
        reply = m.payload;
      }
    }
    if (reply === undefined) throw new Error(`${op}: no reply (connection ${this.conn.closeReason ?? "open"})`);
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
    for (const m of this.conn.takeAll()) if (m.type === XS.XS_WATCH_EVENT) this.#events.push(decodeWatchEvent(m.payload));
    return this.takeEvents();
  }

  read(path: string, tx = 0): Uint8Array {
    return this.request(XS.XS_READ, nulStrings(path), tx);
  }

  readString(path: string, tx = 0): string {
    return latin1(this.read(path, tx));
  }

  write(path: string, value: Uint8Array | string, tx = 0): void {
    const v = typeof value === "string" ? bytesOf(value) : value;
    const head = nulStrings(path);
    const p = new Uint8Array(head.length + v.length);
    p.set(head);
    p.set(v, head.length);
    this.request(XS.XS_WRITE, p, tx);
  }

  mkdir(path: string, tx = 0): void {
    this.request(XS.XS_MKDIR, nulStrings(path), tx);
  }

  rm(path: string, tx = 0): void {
    this.request(XS.XS_RM, nulStrings(path), tx);
  }

  directory(path: string, tx = 0): string[] {
    return getStrings(this.request(XS.XS_DIRECTORY, nulStrings(path), tx));
  }

  getPerms(path: string, tx = 0): string[] {
    return getStrings(this.request(XS.XS_GET_PERMS, nulStrings(path), tx));
  }

  setPerms(path: string, perms: readonly string[], tx = 0): void {
    this.request(XS.XS_SET_PERMS, nulStrings(path, ...perms), tx);
  }

  watch(path: string, token: string): void {
    this.request(XS.XS_WATCH, nulStrings(path, token));
  }

  unwatch(path: string, token: string): void {
    this.request(XS.XS_UNWATCH, nulStrings(path, token));
  }

  /** @returns the transaction id. */
  transactionStart(): number {
    return Number(getStrings(this.request(XS.XS_TRANSACTION_START, nulStrings("")))[0]);
  }

  /** Commits (or aborts); throws XenstoreError EAGAIN on a conflict. */
  transactionEnd(tx: number, commit = true): void {
    this.request(XS.XS_TRANSACTION_END, nulStrings(commit ? "T" : "F"), tx);
  }

  getDomainPath(domid: number): string {
    return getStrings(this.request(XS.XS_GET_DOMAIN_PATH, nulStrings(String(domid))))[0]!;
  }

  introduce(domid: number, mfn: number, evtchn: number): void {
    this.request(XS.XS_INTRODUCE, nulStrings(String(domid), String(mfn), String(evtchn)));
  }

  release(domid: number): void {
    this.request(XS.XS_RELEASE, nulStrings(String(domid)));
  }

  isDomainIntroduced(domid: number): boolean {
    return getStrings(this.request(XS.XS_IS_DOMAIN_INTRODUCED, nulStrings(String(domid))))[0] === "T";
  }
}
