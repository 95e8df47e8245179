/**
 * The guest's xenstore client (Linux `xenbus_xs.c`, Mini-OS `xenbus.c`) over its own xenstore
 * ring page, which a PV guest finds through `start_info` (`store_mfn` — a GFN in pvkit's
 * translated guests — and `store_evtchn`; `xen.h` `struct start_info`,
 * `docs/misc/xenstore-ring.txt`).
 *
 * ```ts
 * const xs = XenbusClient.fromStartInfo(guest, EventChannels.of(guest), { startInfoGfn });
 * const name = await xs.read("name");                       // relative to /local/domain/<domid>
 * const sub = xs.watch("device/vbd").subscribe((e) => ...); // initial event first
 * await xs.transaction(async (tx) => {                      // retried on EAGAIN
 *   const n = Number(await tx.read("counter"));
 *   await tx.write("counter", String(n + 1));
 * });
 * ```
 *
 * Requests carry increasing `req_id`s and may be in flight together; replies are matched by id.
 * Errors are `XenbusError`s (a `XenError`): `code` is xenstored's error name, `path` the path.
 */
import { Observable } from "rxjs";
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import { XS, nulJoin, nulSplit, readStartInfo } from "@pvkit/hypervisor-sim/abi";
import type { EventChannel } from "../events/event-channel.js";
import type { EventChannels } from "../events/event-channels.js";
import { XenbusError } from "./xenbus-error.js";
import { XenstoreSession } from "./xenstore-session.js";
import { XsRingConnection, type XsWatchEvent } from "./xs-ring-connection.js";
import type { XenbusTransport } from "./driver/transport.js";

/** Retries after EAGAIN before a transaction gives up (libxenstore's callers loop; Linux too). */
export const DEFAULT_TRANSACTION_RETRIES = 10;

/** Options of the XenbusClient constructors. */
export interface XenbusClientOptions {
  /** Retries of a transaction that ends with EAGAIN. Default 10 (so at most 11 attempts). */
  readonly transactionRetries?: number;
  /** Close the event channel in `close()`. Default: true for `fromStartInfo`, false otherwise. */
  readonly ownsChannel?: boolean;
}

/** Options of {@link XenbusClient.fromStartInfo}. */
export interface XenbusStartInfoOptions extends XenbusClientOptions {
  /** The GFN of the guest's start_info page. */
  readonly startInfoGfn: number;
}

/** Options of {@link XenbusClient.watch}. */
export interface WatchOptions {
  /**
   * The token to register (default: a unique one per subscription). Tokens are byte strings on
   * the wire (one char per byte, `xsBytes` of `@pvkit/hypervisor-sim/abi`): a char above U+00FF
   * makes the subscription fail with RangeError.
   */
  readonly token?: string;
}

/** Options of {@link XenbusClient.transaction}. */
export interface TransactionOptions {
  /** Overrides the client's `transactionRetries`. */
  readonly retries?: number;
}

let endTransaction: (tx: XenbusTransaction) => void;
let makeTransaction: (conn: XsRingConnection, id: number) => XenbusTransaction;

/** A transaction in progress: the session's operations, on a private copy of the store. */
export class XenbusTransaction extends XenstoreSession {
  /** The transaction id xenstored assigned. */
  readonly id: number;
  #ended = false;

  static {
    endTransaction = (tx) => {
      tx.#ended = true;
    };
    makeTransaction = (conn, id) => new XenbusTransaction(conn, id);
  }

  /** Made by `XenbusClient.transaction` (private: the published .d.ts has no `new XenbusTransaction()`). */
  private constructor(conn: XsRingConnection, id: number) {
    super(conn, id);
    this.id = id;
  }

  /** Whether TRANSACTION_END has been sent. */
  get ended(): boolean {
    return this.#ended;
  }

  protected override checkUsable(type: number, path: string | undefined): XenbusError | undefined {
    if (!this.#ended) return undefined;
    return new XenbusError({
      reason: "closed",
      type,
      path,
      detail: `transaction ${this.id} has ended`,
    });
  }
}

/**
 * The guest's xenstore connection over its `xenstore_domain_interface` ring page and store
 * event channel (see the file header). `close()` (or dispose) fails pending requests and watch
 * subscriptions with reason "closed".
 */
export class XenbusClient extends XenstoreSession implements XenbusTransport, Disposable {
  readonly #channel: EventChannel;
  readonly #ownsChannel: boolean;
  readonly #retries: number;
  /**
   * Watch tokens issued on this connection (`pvkit-watch-1`, `-2`, ...). Per connection, as
   * xenstored keeps watches (Linux's register_xenbus_watch uses the watch's own address, unique
   * in its kernel): a module-wide count made a guest's tokens, its bytes on the ring and the
   * watch memory xenstored charges to its quota depend on the hosts made before it.
   */
  #watchTokens = 0;
  #closed = false;

  /**
   * The client of `guest`, on the ring and port named by its start_info page at
   * `startInfoGfn`. The store port is adopted into `events` (and closed by `close()`).
   * @throws RangeError if start_info has no Xen magic, or the ring page is not writable RAM.
   */
  static fromStartInfo(
    guest: Guest,
    events: EventChannels,
    opts: XenbusStartInfoOptions,
  ): XenbusClient {
    const si = readStartInfo(guest.memory.page(opts.startInfoGfn));
    if (!si.magic.startsWith("xen-")) {
      throw new RangeError(
        `no start_info at gfn ${opts.startInfoGfn} (magic ${JSON.stringify(si.magic)})`,
      );
    }
    const page = guest.memory.writablePage(si.store_mfn);
    const channel = events.channel(si.store_evtchn) ?? events.adopt(si.store_evtchn);
    return new XenbusClient(page, channel, { ownsChannel: true, ...opts });
  }

  /** A client on the ring in `page`, notified through `channel` (the guest's store port). */
  constructor(page: Page, channel: EventChannel, opts: XenbusClientOptions = {}) {
    super(new XsRingConnection(page, channel), 0);
    this.#channel = channel;
    this.#ownsChannel = opts.ownsChannel ?? false;
    const retries = opts.transactionRetries ?? DEFAULT_TRANSACTION_RETRIES;
    if (!Number.isInteger(retries) || retries < 0)
      throw new RangeError(`transactionRetries ${retries}`);
    this.#retries = retries;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.conn.inFlight;
  }

  /** Why the client stopped (closed, or the ring failed), if it did. */
  get failure(): XenbusError | undefined {
    return this.conn.failure;
  }

  /** GET_DOMAIN_PATH: `/local/domain/<domid>`. */
  async getDomainPath(domid: number): Promise<string> {
    const m = await this.send(XS.XS_GET_DOMAIN_PATH, nulJoin([String(domid)]), undefined);
    return nulSplit(m.payload)[0] ?? "";
  }

  /**
   * A watch on `path` (and everything below it). Cold: subscribing sends WATCH with a token of
   * its own, so each subscriber gets xenstored's initial event first; unsubscribing sends
   * UNWATCH. Event paths are as xenstored sends them — relative if `path` was relative.
   * Errors with the XenbusError of a refused WATCH (EINVAL, EEXIST, E2BIG ...) or of a ring
   * failure.
   */
  watch(path: string, opts: WatchOptions = {}): Observable<XsWatchEvent> {
    return new Observable<XsWatchEvent>((subscriber) => {
      const token = opts.token ?? `pvkit-watch-${++this.#watchTokens}`;
      // Encoded first: a path or token that is no byte string fails before anything is registered.
      const args = nulJoin([path, token]);
      let refused = false;
      const offEvent = this.conn.onWatchEvent((e) => {
        if (e.token === token) subscriber.next(e);
      });
      const offFailure = this.conn.onFailure((err) => subscriber.error(err));
      this.send(XS.XS_WATCH, args, path).then(undefined, (err: unknown) => {
        refused = true;
        subscriber.error(err);
      });
      return () => {
        offEvent();
        offFailure();
        if (!refused && this.conn.failure === undefined) {
          // Fire and forget: the reply (or an error after close) changes nothing here.
          this.send(XS.XS_UNWATCH, args, path).then(
            () => undefined,
            () => undefined,
          );
        }
      };
    });
  }

  /**
   * Runs `fn` in a transaction: TRANSACTION_START, `fn(tx)`, then TRANSACTION_END commit. If
   * the commit fails with EAGAIN (something `fn` read changed meanwhile) — or `fn` throws an
   * EAGAIN XenbusError — the whole transaction runs again, up to `retries` more times; after that
   * the EAGAIN error is thrown. If `fn` throws anything else the transaction is aborted
   * (TRANSACTION_END "F") and the error is rethrown.
   */
  async transaction<T>(
    fn: (tx: XenbusTransaction) => Promise<T> | T,
    opts: TransactionOptions = {},
  ): Promise<T> {
    const retries = opts.retries ?? this.#retries;
    for (let attempt = 0; ; attempt++) {
      const start = await this.send(XS.XS_TRANSACTION_START, nulJoin([""]), undefined);
      const id = Number(nulSplit(start.payload)[0]);
      if (!Number.isInteger(id) || id <= 0 || id > 0xffffffff) {
        throw new XenbusError({
          reason: "protocol",
          type: XS.XS_TRANSACTION_START,
          detail: `transaction id ${id}`,
        });
      }
      const tx = makeTransaction(this.conn, id);
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        endTransaction(tx);
        await this.#end(id, false).catch(() => undefined);
        if (isEagain(err) && attempt < retries) continue;
        throw err;
      }
      endTransaction(tx);
      try {
        await this.#end(id, true);
        return result;
      } catch (err) {
        if (isEagain(err) && attempt < retries) continue;
        throw err;
      }
    }
  }

  #end(id: number, commit: boolean): Promise<unknown> {
    return this.conn.request({
      type: XS.XS_TRANSACTION_END,
      payload: nulJoin([commit ? "T" : "F"]),
      tx_id: id,
    });
  }

  /**
   * Stops the client: pending requests and watch subscriptions fail with a XenbusError
   * (reason `closed`); the store port is closed if the client owns it. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.conn.close();
    if (this.#ownsChannel) this.#channel.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function isEagain(err: unknown): boolean {
  return err instanceof XenbusError && err.reason === "error-reply" && err.code === "EAGAIN";
}
