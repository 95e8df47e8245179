/**
 * One xenstored client connection: a Unix-socket client, an in-process client, or a domain's
 * ring. It owns the client's watches, its open transactions (ids per connection, from 1, skipping
 * ids in use) and the queue of outgoing messages. Requests are processed in arrival order and
 * each reply is queued before the next request is read, so replies leave in request order; watch
 * events are queued between them as they happen.
 *
 * Transports push received bytes with {@link Connection.receive} and take queued messages with
 * {@link Connection.takeOutput} (or {@link Connection.drainBytes}); `"output"` is emitted when
 * something was queued.
 */
import { EventEmitter } from "eventemitter3";
import type { DomainRecord } from "./domains.js";
import { bytesOf, latin1 } from "./payload.js";
import { domainPath } from "./path.js";
import type { Transaction } from "./transaction.js";
import { encodeMessage, OVERSIZE, XsMessageParser, type XsMessage } from "./wire.js";
import { XENSTORE_PAYLOAD_MAX, XS } from "./xs-wire.js";

/** Where a connection comes from. Socket and local clients are privileged dom0 tools. */
export type ConnectionKind = "socket" | "local" | "domain";

/** Why a connection stopped. `oversize` is a request with len > 4096 (XENSTORE_ERROR_PROTO). */
export type ConnectionCloseReason = "closed" | "oversize" | "released" | "domain-died" | "server-closed";

export interface ConnectionEvents {
  /** Messages were queued for the client. */
  output: [];
  /** The connection processes nothing more; its watches and transactions are gone. */
  close: [reason: ConnectionCloseReason];
}

/** A registered watch. `relative` is the implicit path stripped from event paths, if any. */
export interface Watch {
  readonly path: string;
  readonly token: string;
  readonly relative: string | undefined;
}

/** What a connection needs from the server that owns it. */
export interface ConnectionOwner {
  process(conn: Connection, msg: XsMessage): void;
  connectionClosed(conn: Connection, reason: ConnectionCloseReason): void;
  readonly privDomid: number;
}

export class Connection extends EventEmitter<ConnectionEvents> {
  readonly kind: ConnectionKind;
  /** `conn->id`: the domid for a domain connection, 0 for socket and local clients. */
  readonly id: number;
  /** The domain record of a domain connection. */
  domain: DomainRecord | undefined;
  /** The connection of the domain this one is device model for (SET_TARGET). */
  target: Connection | undefined;
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  #nextTransactionId = 1;
  #out: XsMessage[] = [];
  #parser = new XsMessageParser();
  #closed: ConnectionCloseReason | undefined;
  #owner: ConnectionOwner;

  /** @internal Created by the server (`Xenstored.connect`, INTRODUCE, the socket server). */
  constructor(owner: ConnectionOwner, kind: ConnectionKind, id: number) {
    super();
    this.#owner = owner;
    this.kind = kind;
    this.id = id;
  }

  /** Dom0, the privileged domain and non-domain clients bypass permissions and quotas. */
  get privileged(): boolean {
    return this.kind !== "domain" || this.id === 0 || this.id === this.#owner.privDomid;
  }

  /** The prefix of relative paths: `/local/domain/<domid>` (`/local/domain/0` for tools). */
  get implicitPath(): string {
    return domainPath(this.id);
  }

  /** Why the connection closed, or undefined while it is open. */
  get closeReason(): ConnectionCloseReason | undefined {
    return this.#closed;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Feeds received bytes. Every complete request is processed at once, in order. A header with
   * len > XENSTORE_PAYLOAD_MAX closes the connection with reason `oversize`. Bytes arriving
   * after close are ignored.
   */
  receive(bytes: Uint8Array): void {
    if (this.closed) return;
    this.#parser.push(bytes);
    for (;;) {
      if (this.closed) return;
      const m = this.#parser.next();
      if (m === undefined) return;
      if (m === OVERSIZE) {
        this.close("oversize");
        return;
      }
      this.#owner.process(this, m);
    }
  }

  /** Convenience for in-process clients: encodes and receives one request. */
  request(type: number, payload: Uint8Array | string, tx_id = 0, req_id = 0): void {
    const p = typeof payload === "string" ? bytesOf(payload) : payload;
    this.receive(encodeMessage({ type, req_id, tx_id, payload: p }));
  }

  /** Messages queued and not yet taken, oldest first. */
  get pending(): readonly XsMessage[] {
    return this.#out;
  }

  /** Takes the oldest queued message. */
  takeOutput(): XsMessage | undefined {
    return this.#out.shift();
  }

  /** Takes every queued message. */
  takeAll(): XsMessage[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  /** Takes every queued message, encoded back to back. */
  drainBytes(): Uint8Array {
    const parts = this.takeAll().map(encodeMessage);
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /** @internal Queues a reply (or XS_ERROR) echoing the request's req_id and tx_id. */
  queueReply(req: XsMessage, type: number, payload: Uint8Array): void {
    if (this.closed) return;
    if (payload.length > XENSTORE_PAYLOAD_MAX) {
      type = XS.XS_ERROR;
      payload = bytesOf("E2BIG\0");
    }
    this.#out.push({ type, req_id: req.req_id, tx_id: req.tx_id, payload });
    this.emit("output");
  }

  /**
   * @internal `send_event`: queues WATCH_EVENT `path\0token\0` (req_id = tx_id = 0). Events over
   * 4096 bytes are dropped, and so is an event identical to one still queued (not for `@` paths).
   */
  queueEvent(path: string, token: string): void {
    if (this.closed) return;
    const payload = bytesOf(`${path}\0${token}\0`);
    if (payload.length > XENSTORE_PAYLOAD_MAX) return;
    if (!path.startsWith("@")) {
      const dup = this.#out.some((m) => m.type === XS.XS_WATCH_EVENT && sameBytes(m.payload, payload));
      if (dup) return;
    }
    this.#out.push({ type: XS.XS_WATCH_EVENT, req_id: 0, tx_id: 0, payload });
    this.emit("output");
  }

  /** @internal Picks an unused transaction id (starting at 1, never 0). */
  allocTransactionId(): number {
    for (;;) {
      const id = this.#nextTransactionId;
      this.#nextTransactionId = (this.#nextTransactionId + 1) >>> 0;
      if (id !== 0 && !this.transactions.has(id)) return id;
    }
  }

  /**
   * Stops the connection: drops its watches, transactions and queued output and emits `close`.
   * Idempotent.
   */
  close(reason: ConnectionCloseReason = "closed"): void {
    if (this.closed) return;
    this.#closed = reason;
    this.#owner.connectionClosed(this, reason);
    this.#out = [];
    this.emit("close", reason);
  }

  /** @internal Drops queued output (INTRODUCE's connection reset). */
  clearOutput(): void {
    this.#out = [];
  }

  override toString(): string {
    return `Connection(${this.kind} ${this.id})`;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Decodes a WATCH_EVENT payload into path and token. */
export function decodeWatchEvent(payload: Uint8Array): { path: string; token: string } {
  const s = latin1(payload);
  const [path = "", token = ""] = s.split("\0");
  return { path, token };
}
