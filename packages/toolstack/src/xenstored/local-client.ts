/**
 * A synchronous in-process xenstore client over one {@link Connection}, for dom0-side code
 * (the domain builder) and tests. Every call is one `xsd_sockmsg` request with real payload
 * bytes, checked as `encodeXsMessage` checks a message and handed to the connection whole (as
 * its parser, or the ring transport, hands over a complete message); an XS_ERROR reply throws
 * XenstoreError with the error name as `code`. Watch events are collected and handed out by
 * {@link XsLocalClient.takeEvents}.
 */
import type { Connection } from "./connection.js";
import { decodeWatchEvent } from "./connection.js";
import { XenstoreError } from "./errors.js";

import { getStrings } from "./payload.js";
import {
  isXsdErrorName,
  XENSTORE_PAYLOAD_MAX,
  type XsdErrorName,
  nulJoin,
  XS,
  xsBytes,
  xsString,
  xsTypeName,
} from "@pvkit/hypervisor-sim/abi";

/** DIRECTORY_PART restarts (the directory changed between parts) before giving up with EAGAIN. */
const DIRECTORY_PART_RESTARTS = 64;

export interface WatchEvent {
  readonly path: string;
  readonly token: string;
}

/**
 * What encodeXsMessage refuses, with its errors: a header field that is not a u32, a payload over
 * XENSTORE_PAYLOAD_MAX. @throws RangeError.
 */
function checkRequest(type: number, req_id: number, tx_id: number, len: number): void {
  checkU32("type", type);
  checkU32("req_id", req_id);
  checkU32("tx_id", tx_id);
  if (len > XENSTORE_PAYLOAD_MAX)
    throw new RangeError(`xenstore payload of ${len} bytes exceeds ${XENSTORE_PAYLOAD_MAX}`);
}

function checkU32(name: string, v: number): void {
  if (!(v >>> 0 === v)) throw new RangeError(`xsd_sockmsg.${name} ${v} is not a u32`);
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

  /** `fresh`: the payload array was built for this call (no copy needed). */
  #exchange(
    type: number,
    payload: Uint8Array | string,
    tx_id: number,
    expected: XsdErrorName | undefined,
    fresh = false,
  ): Uint8Array | XsdErrorName {
    // The request as the connection's parser would hand it over (a payload of its own), after
    // encodeXsMessage's checks: no header bytes are built and parsed back for an in-process call.
    const p = typeof payload === "string" ? xsBytes(payload) : fresh ? payload : payload.slice();
    const req_id = this.#reqId++ >>> 0;
    checkRequest(type, req_id, tx_id, p.length);
    this.conn.receiveMessage({ type, req_id, tx_id, payload: p });
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
    return this.#exchange(XS.XS_READ, nulJoin([path]), tx, undefined, true) as Uint8Array;
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
    this.#exchange(XS.XS_WRITE, p, tx, undefined, true);
  }

  mkdir(path: string, tx = 0): void {
    this.#exchange(XS.XS_MKDIR, nulJoin([path]), tx, undefined, true);
  }

  rm(path: string, tx = 0): void {
    this.#exchange(XS.XS_RM, nulJoin([path]), tx, undefined, true);
  }

  /**
   * DIRECTORY: child names in creation order. A listing over 4096 bytes (xenstored answers E2BIG,
   * as cxenstored's `send_reply` does) is fetched with DIRECTORY_PART instead, starting again
   * when the node's generation changes between parts (libxenstore's `xs_directory_part`); a
   * directory that keeps changing fails with EAGAIN after `DIRECTORY_PART_RESTARTS` (64) restarts.
   */
  directory(path: string, tx = 0): string[] {
    try {
      return getStrings(this.request(XS.XS_DIRECTORY, nulJoin([path]), tx));
    } catch (e) {
      if (e instanceof XenstoreError && e.code === "E2BIG") return this.#directoryPart(path, tx);
      throw e;
    }
  }

  #directoryPart(path: string, tx: number): string[] {
    let restarts = 0;
    let gen: string | undefined;
    let names: string[] = [];
    let off = 0;
    for (;;) {
      const p = this.request(XS.XS_DIRECTORY_PART, nulJoin([path, String(off)]), tx);
      // `gen\0`, then whole names each with its NUL; one more NUL (an empty string) ends the list.
      const [g = "", ...part] = getStrings(p);
      if (off > 0 && g !== gen) {
        if (++restarts > DIRECTORY_PART_RESTARTS)
          throw new XenstoreError(
            "EAGAIN",
            `XS_DIRECTORY_PART: ${path} kept changing`,
            "XS_DIRECTORY_PART",
          );
        gen = undefined;
        names = [];
        off = 0;
        continue;
      }
      gen = g;
      const last = part.length === 0 || part[part.length - 1] === "";
      if (last && part.length > 0) part.pop();
      names.push(...part);
      if (last) return names;
      off += p.length - (g.length + 1);
    }
  }

  getPerms(path: string, tx = 0): string[] {
    return getStrings(this.request(XS.XS_GET_PERMS, nulJoin([path]), tx));
  }

  setPerms(path: string, perms: readonly string[], tx = 0): void {
    this.#exchange(XS.XS_SET_PERMS, nulJoin([path, ...perms]), tx, undefined, true);
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
