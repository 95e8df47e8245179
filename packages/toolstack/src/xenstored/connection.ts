/**
 * One xenstored client connection: a Unix-socket client, an in-process client, or a domain's
 * ring. It owns the client's watches, its open transactions (ids per connection, from 1, skipping
 * ids in use) and the queue of outgoing messages (cxenstored's `out_list`). Requests are
 * processed in arrival order and each reply is queued before the next request is read, so
 * replies leave in request order; watch events are queued between them as they happen.
 *
 * In-process and socket transports take queued messages with {@link Connection.takeOutput} (or
 * {@link Connection.takeAll}, {@link Connection.drainBytes}); a message taken counts as written.
 * A ring transport writes the queue in place ({@link Connection.outputHead},
 * {@link Connection.outputWritten}), so a message stays queued until its last byte is in the
 * ring. `"output"` is emitted when something was queued.
 *
 * XSA-326 accounting (see `outstanding.ts`): {@link Connection.outstanding} counts this
 * connection's requests whose reply or caused watch events are still queued somewhere.
 * Watch events queued for an unprivileged domain time out (`timeout_watch_event_msec`, 20 s of
 * the scheduler's virtual time): one not yet partly written by its deadline is dropped.
 *
 * Every queued message is charged to the memory quota of the connection's domain (16-byte header
 * + payload, `memory.ts`) until it leaves: a reply over 16 bytes that would reach the quota is
 * replaced by ENOMEM, a watch event that would is dropped (`send_reply`, `send_event`).
 */
import { EventEmitter } from "eventemitter3";
import type { DomainRecord } from "./domains.js";
import { DEFAULT_BUFFER_SIZE, messageMemory } from "./memory.js";
import type { XenstoredScheduler } from "./options.js";
import { RequestCause } from "./outstanding.js";
import type { PermSubject } from "./perms.js";
import { domainPath } from "./path.js";
import type { Transaction } from "./transaction.js";
import {
  encodeXsMessage,
  encodeXsMessageInto,
  XENSTORE_PAYLOAD_MAX,
  XS,
  XS_OVERSIZE,
  XSD_SOCKMSG_SIZE,
  XsMessageParser,
  xsBytes,
  xsString,
  type XsMessage,
} from "@pvkit/hypervisor-sim/abi";

/** Where a connection comes from. Socket and local clients are privileged dom0 tools. */
export type ConnectionKind = "socket" | "local" | "domain";

/** Why a connection stopped. `oversize` is a request with len > 4096 (XENSTORE_ERROR_PROTO). */
export type ConnectionCloseReason =
  | "closed"
  | "oversize"
  | "released"
  | "domain-died"
  | "server-closed";

export interface ConnectionEvents {
  /** Messages were queued for the client. */
  output: [];
  /**
   * The connection is about to close: what is queued can still be taken now (a transport that
   * batches its writes sends it), then it is dropped and `close` follows.
   */
  closing: [reason: ConnectionCloseReason];
  /** The connection processes nothing more; its watches and transactions are gone. */
  close: [reason: ConnectionCloseReason];
  /** {@link Connection.outstanding} went down to `count` (a blocked ring may be read again). */
  outstanding: [count: number];
  /**
   * A quota that kept the domain's ring from being read may have lifted: its write credit is
   * earned back, or its memory fell below the quota.
   */
  readable: [];
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
  /** The virtual clock of watch-event timeouts (none: events never time out). */
  readonly scheduler: XenstoredScheduler | undefined;
  /** `timeout_watch_event_msec` (0: never). */
  readonly watchEventTimeoutMs: number;
  /** `domain_memory_add`: false if the charge is refused. */
  memoryAdd(domid: number, mem: number, noQuotaCheck: boolean): boolean;
  /** The quota part of `domain_can_read` (see {@link Connection.readBlocked}). */
  readBlocked(conn: Connection, outstandingLimit?: number): boolean;
}

/** A queued message (`struct buffered_data` on `out_list`). */
interface Outgoing {
  readonly msg: XsMessage;
  /** Encoded on first partial write. */
  bytes: Uint8Array | undefined;
  /** Bytes already written by a ring transport. */
  written: number;
  /** The request this reply answers, or that caused this watch event. */
  readonly cause: RequestCause | undefined;
  /** Virtual ns after which an unwritten watch event is dropped. */
  readonly deadline: number | undefined;
  /** Bytes charged to the connection's domain while queued. */
  readonly charged: number;
  /** For a watch event on a node path: its payload as one char per byte (the dedup key). */
  readonly dedupKey: string | undefined;
}

let makeConnection: (owner: ConnectionOwner, kind: ConnectionKind, id: number) => Connection;

/** Creates a connection (xenstored's `new_connection`). @internal */
export function createConnection(
  owner: ConnectionOwner,
  kind: ConnectionKind,
  id: number,
): Connection {
  return makeConnection(owner, kind, id);
}

/**
 * A xenstored client connection (see the file header): its identity (`id`, domain, privilege),
 * watches, open transactions and outgoing queue, with the XSA-326 outstanding count and quota
 * charges. Made by `Xenstored.connect()`, the socket server and INTRODUCE; a transport feeds it
 * requests (`receive`) and takes its output. `close()` drops its watches and transactions.
 */
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
  #out: Outgoing[] = [];
  /** How many queued watch events (node paths only) have each payload, by `dedupKey`. */
  readonly #queuedEvents = new Map<string, number>();
  #parser = new XsMessageParser();
  #closed: ConnectionCloseReason | undefined;
  #owner: ConnectionOwner;
  #implicitPath: string | undefined;
  #subject: PermSubject | undefined;
  /** The request being processed (events it fires attach to it). */
  #current: RequestCause | undefined;
  #outstanding = 0;
  /** Queued entries with a deadline. */
  #timed = 0;
  #timer: { cancel(): void } | undefined;
  /** Counting hooks handed to this connection's request causes. */
  readonly #counter = {
    outstandingInc: (): void => {
      this.#outstanding++;
    },
    outstandingDec: (): void => {
      this.#outstanding--;
      if (!this.closed) this.emit("outstanding", this.#outstanding);
    },
  };

  static {
    makeConnection = (owner, kind, id) => new Connection(owner, kind, id);
  }

  /** Created by the server (`Xenstored.connect`, INTRODUCE, the socket server). */
  private constructor(owner: ConnectionOwner, kind: ConnectionKind, id: number) {
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
    return (this.#implicitPath ??= domainPath(this.id));
  }

  /**
   * @internal The identity `perm_for_conn` checks (core's `subject`), kept while the target
   * stays the same, so a permission check builds nothing.
   */
  permSubject(privileged: boolean): PermSubject {
    const target = this.target?.id;
    const s = this.#subject;
    if (s !== undefined && s.target === target && s.privileged === privileged) return s;
    return (this.#subject = { id: this.id, privileged, target });
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
   * after close are ignored. `afterEach`, if given, is called after each request is processed
   * (its reply queued), before the next one is: the socket server writes a batch there.
   */
  receive(bytes: Uint8Array, afterEach?: () => void): void {
    if (this.closed) return;
    this.#parser.push(bytes);
    for (;;) {
      if (this.closed) return;
      const m = this.#parser.next();
      if (m === undefined) return;
      if (m === XS_OVERSIZE) {
        this.close("oversize");
        return;
      }
      this.#process(m);
      afterEach?.();
    }
  }

  /**
   * @internal For a transport that reassembles messages itself (the ring): processes one whole
   * request, as {@link receive} does for each message it completes. Ignored after close.
   */
  receiveMessage(msg: XsMessage): void {
    if (!this.closed) this.#process(msg);
  }

  #process(m: XsMessage): void {
    const cause = new RequestCause(this.#counter);
    this.#current = cause;
    try {
      this.#owner.process(this, m);
    } finally {
      this.#current = undefined;
      cause.seal();
    }
  }

  /**
   * Requests of this connection still outstanding: reply queued and not yet written, or some
   * watch event it caused (here or on another connection) not yet written or dropped.
   */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** @internal The request being processed, if any: the cause of the events it fires. */
  get currentRequest(): RequestCause | undefined {
    return this.#current;
  }

  /**
   * @internal For a ring transport, `domain_can_read`'s quotas: true while an unprivileged
   * domain's write credit is negative, `outstandingLimit` (default: the `outstandingPerDomain`
   * quota) of its requests are outstanding, or it has reached its memory quota. `readable` (for
   * the credit and the memory) and `outstanding` are emitted when a block may have lifted.
   */
  readBlocked(outstandingLimit?: number): boolean {
    return this.#owner.readBlocked(this, outstandingLimit);
  }

  /** Convenience for in-process clients: encodes and receives one request. */
  request(type: number, payload: Uint8Array | string, tx_id = 0, req_id = 0): void {
    const p = typeof payload === "string" ? xsBytes(payload) : payload;
    this.receive(encodeXsMessage({ type, req_id, tx_id, payload: p }));
  }

  /** Messages queued and not yet taken (or not completely written), oldest first. */
  get pending(): readonly XsMessage[] {
    return this.#out.map((e) => e.msg);
  }

  /** Bytes queued and not yet written. */
  get queuedBytes(): number {
    return this.#out.reduce((n, e) => n + (e.bytes?.length ?? encodedSize(e.msg)) - e.written, 0);
  }

  /** Takes the oldest queued message (it counts as written). */
  takeOutput(): XsMessage | undefined {
    const e = this.#out.shift();
    if (e === undefined) return undefined;
    this.#gone(e);
    return e.msg;
  }

  /** Takes every queued message (they count as written). */
  takeAll(): XsMessage[] {
    const out = this.#out;
    this.#out = [];
    for (const e of out) this.#gone(e);
    return out.map((e) => e.msg);
  }

  /** Messages queued and not yet taken (or not completely written). */
  get queuedCount(): number {
    return this.#out.length;
  }

  /**
   * Takes every queued message, encoded back to back into one buffer (one socket write for a
   * batch of replies); they count as written.
   */
  drainBytes(): Uint8Array {
    const out = this.#out;
    if (out.length === 0) return EMPTY;
    this.#out = [];
    let total = 0;
    for (const e of out) total += encodedSize(e.msg);
    // Uninitialised memory (every byte is written below), as a plain Uint8Array view.
    const pool = Buffer.allocUnsafe(total);
    const bytes = new Uint8Array(pool.buffer, pool.byteOffset, total);
    let off = 0;
    for (const e of out) off = encodeXsMessageInto(bytes, off, e.msg);
    for (const e of out) this.#gone(e);
    return bytes;
  }

  /** @internal For a ring transport: the unwritten bytes of the oldest queued message. */
  outputHead(): Uint8Array | undefined {
    const e = this.#out[0];
    if (e === undefined) return undefined;
    e.bytes ??= encodeXsMessage(e.msg);
    return e.written === 0 ? e.bytes : e.bytes.subarray(e.written);
  }

  /**
   * @internal For a ring transport: `n` more bytes of the oldest message were written. Once
   * complete it leaves the queue (`free_buffered_data`).
   */
  outputWritten(n: number): void {
    const e = this.#out[0];
    if (e === undefined || n <= 0) return;
    e.bytes ??= encodeXsMessage(e.msg);
    e.written = Math.min(e.bytes.length, e.written + n);
    if (e.written < e.bytes.length) return;
    this.#out.shift();
    this.#gone(e);
  }

  /** @internal Queues a reply (or XS_ERROR) echoing the request's req_id and tx_id. */
  queueReply(req: XsMessage, type: number, payload: Uint8Array): void {
    if (this.closed) return;
    if (payload.length > XENSTORE_PAYLOAD_MAX) {
      type = XS.XS_ERROR;
      payload = xsBytes("E2BIG\0");
    }
    // `send_reply`: a reply of up to 16 bytes is charged unchecked (it may be reporting an error);
    // a longer one that the quota refuses becomes ENOMEM.
    const checked = payload.length > DEFAULT_BUFFER_SIZE;
    if (checked && !this.#owner.memoryAdd(this.id, messageMemory(payload.length), false)) {
      type = XS.XS_ERROR;
      payload = xsBytes("ENOMEM\0");
      this.#owner.memoryAdd(this.id, messageMemory(payload.length), true);
    } else if (!checked) {
      this.#owner.memoryAdd(this.id, messageMemory(payload.length), true);
    }
    let cause = this.#current;
    if (cause === undefined) {
      cause = new RequestCause(this.#counter);
      cause.seal();
    }
    cause.replyQueued();
    const charged = messageMemory(payload.length);
    this.#push({
      msg: { type, req_id: req.req_id, tx_id: req.tx_id, payload },
      bytes: undefined,
      written: 0,
      cause,
      deadline: undefined,
      charged,
      dedupKey: undefined,
    });
  }

  /**
   * @internal `send_event`: queues WATCH_EVENT `path\0token\0` (req_id = tx_id = 0), caused by
   * `cause` (none for xenstored's own events). Events over 4096 bytes are dropped, and so is an
   * event identical to one still queued (not for `@` paths) and one that would reach the memory
   * quota. For an unprivileged domain the event gets a deadline when a scheduler and a timeout
   * are set.
   */
  queueEvent(path: string, token: string, cause?: RequestCause): void {
    if (this.closed) return;
    const text = `${path}\0${token}\0`;
    const payload = xsBytes(text);
    if (payload.length > XENSTORE_PAYLOAD_MAX) return;
    let dedupKey: string | undefined;
    if (!path.startsWith("@")) {
      // Equal keys are equal payloads: byte strings map to bytes one to one.
      dedupKey = text;
      if (this.#queuedEvents.has(dedupKey)) return;
    }
    const charged = messageMemory(payload.length);
    if (!this.#owner.memoryAdd(this.id, charged, false)) return;
    const sched = this.#owner.scheduler;
    const timeoutMs = this.#owner.watchEventTimeoutMs;
    const deadline =
      sched && timeoutMs > 0 && !this.privileged ? sched.now + timeoutMs * 1_000_000 : undefined;
    cause?.eventQueued();
    this.#push({
      msg: { type: XS.XS_WATCH_EVENT, req_id: 0, tx_id: 0, payload },
      bytes: undefined,
      written: 0,
      cause,
      deadline,
      charged,
      dedupKey,
    });
    if (deadline !== undefined && this.#timer === undefined) this.#arm(deadline);
  }

  #push(e: Outgoing): void {
    this.#out.push(e);
    if (e.dedupKey !== undefined)
      this.#queuedEvents.set(e.dedupKey, (this.#queuedEvents.get(e.dedupKey) ?? 0) + 1);
    if (e.deadline !== undefined) this.#timed++;
    this.emit("output");
  }

  /** An entry left the queue (written, taken, timed out or dropped): settle its cause. */
  #gone(e: Outgoing): void {
    if (e.dedupKey !== undefined) {
      const n = this.#queuedEvents.get(e.dedupKey)! - 1;
      if (n === 0) this.#queuedEvents.delete(e.dedupKey);
      else this.#queuedEvents.set(e.dedupKey, n);
    }
    if (e.deadline !== undefined && --this.#timed === 0) this.#disarm();
    this.#owner.memoryAdd(this.id, -e.charged, true);
    if (e.msg.type === XS.XS_WATCH_EVENT) e.cause?.eventGone();
    else e.cause?.replyGone();
  }

  /** Drops every queued message (nothing of it is written any more). */
  #dropAll(): void {
    const out = this.#out;
    this.#out = [];
    for (const e of out) this.#gone(e);
    this.#disarm();
  }

  #arm(at: number): void {
    this.#timer = this.#owner.scheduler?.at(at, () => {
      this.#timer = undefined;
      this.#expire();
    });
  }

  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /**
   * `check_event_timeout`: drops the watch events whose deadline has passed and of which nothing
   * was written yet, then waits for the next deadline.
   */
  #expire(): void {
    const now = this.#owner.scheduler?.now ?? 0;
    const expired: Outgoing[] = [];
    let next: number | undefined;
    this.#out = this.#out.filter((e) => {
      if (e.deadline === undefined || e.written > 0 || next !== undefined) return true;
      if (e.deadline > now) {
        next = e.deadline;
        return true;
      }
      expired.push(e);
      return false;
    });
    if (next !== undefined) this.#arm(next);
    for (const e of expired) this.#gone(e);
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
    this.emit("closing", reason);
    this.#closed = reason;
    this.#owner.connectionClosed(this, reason);
    this.#dropAll();
    this.emit("close", reason);
  }

  /** @internal Drops queued output (INTRODUCE's connection reset, `conn_free_buffered_data`). */
  clearOutput(): void {
    this.#dropAll();
  }

  override toString(): string {
    return `Connection(${this.kind} ${this.id})`;
  }
}

const EMPTY = new Uint8Array(0);

function encodedSize(m: XsMessage): number {
  return XSD_SOCKMSG_SIZE + m.payload.length;
}

/** Decodes a WATCH_EVENT payload into path and token. */
export function decodeWatchEvent(payload: Uint8Array): { path: string; token: string } {
  const s = xsString(payload);
  const [path = "", token = ""] = s.split("\0");
  return { path, token };
}
