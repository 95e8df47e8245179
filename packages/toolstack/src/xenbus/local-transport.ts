/**
 * Dom0's asynchronous xenbus client: the `XenbusTransport` of `@pvkit/guest-sdk` over a local
 * (in-process, privileged) xenstored connection, so the xenbus driver framework runs backends in
 * dom0 through the same API as in a driver domain — what a dom0 kernel's `xenbus_xs.c` gives its
 * drivers over `/dev/xen/xenbus`.
 *
 * ```ts
 * const xs = LocalXenbusTransport.open(host);          // a new connection, leak-checked
 * const bus = new XenbusBus(driverEnv({ guest: host.dom0.guest, events: host.dom0.events, xs }));
 * ...
 * xs.close();
 * ```
 *
 * Requests run synchronously in xenstored; their results are handed over as promises. Watch
 * events — from our own requests or from other clients' — are delivered from a microtask, never
 * from inside xenstored's handling of a request (a handler may issue requests itself), in the
 * order xenstored queued them. Errors are guest-sdk `XenbusError`s, as a guest's client gives:
 * `code` is xenstored's error name; a closed connection fails with reason `closed`.
 */
import { Observable } from "rxjs";
import {
  type XenbusOps,
  type XenbusTransactionOptions,
  type XenbusTransport,
  XenbusError,
  type XsWatchEvent,
  DEFAULT_TRANSACTION_RETRIES,
} from "@pvkit/guest-sdk";
import type { Connection } from "../xenstored/connection.js";
import { replyError, XenstoreError } from "../xenstored/errors.js";
import type { XsLocalClient, WatchEvent } from "../xenstored/local-client.js";
import { nulJoin, XS } from "@pvkit/hypervisor-sim/abi";

/** What `open` needs of a host: a fresh privileged xenstore client. */
export interface XenstoreOpener {
  openXenstore(): XsLocalClient;
}

/**
 * Watch tokens issued on each xenstored connection (`pvkit-local-1`, `-2`, ...). Counted per
 * connection, as xenstored keeps watches per connection: a module-wide count made every host's
 * tokens depend on the hosts created before it in the process (other bytes on the wire, other
 * watch memory charged to dom0's quota).
 */
const tokensIssued = new WeakMap<object, number>();

/** xenstore values are UTF-8 text to a xenbus client (`xenbus_read` hands out the bytes). */
const UTF8_DECODER = new TextDecoder();
const UTF8_ENCODER = new TextEncoder();

/** ENOENT from a READ, thrown inside run() (which makes it a XenbusError): built once, stackless. */
const NO_ENTRY = replyError("ENOENT");

/** Runs one synchronous request of the local client as a promise. */
type Runner = <T>(
  type: number,
  path: string | undefined,
  fn: (c: XsLocalClient) => T,
) => Promise<T>;

/** The node operations, bound to a transaction id (0 outside transactions). */
abstract class LocalOps implements XenbusOps {
  protected abstract readonly txId: number;
  protected abstract readonly runner: Runner;

  read(path: string): Promise<string> {
    return this.runner(XS.XS_READ, path, (c) => {
      const r = c.requestOr("ENOENT", XS.XS_READ, nulJoin([path]), this.txId);
      // run() turns it into the XenbusError ENOENT, as from any XenstoreError.
      if (r === "ENOENT") throw NO_ENTRY;
      return UTF8_DECODER.decode(r);
    });
  }
  write(path: string, value: string): Promise<void> {
    return this.runner(XS.XS_WRITE, path, (c) =>
      c.write(path, UTF8_ENCODER.encode(value), this.txId),
    );
  }
  mkdir(path: string): Promise<void> {
    return this.runner(XS.XS_MKDIR, path, (c) => c.mkdir(path, this.txId));
  }
  rm(path: string): Promise<void> {
    return this.runner(XS.XS_RM, path, (c) => c.rm(path, this.txId));
  }
  directory(path: string): Promise<string[]> {
    return this.runner(XS.XS_DIRECTORY, path, (c) => c.directory(path, this.txId));
  }
  async exists(path: string): Promise<boolean> {
    // A READ whose ENOENT is the answer, with no error built (the same request on the wire);
    // awaited as read() was, so callers resume at the same microtask turn as before.
    return await this.runner(
      XS.XS_READ,
      path,
      (c) => c.requestOr("ENOENT", XS.XS_READ, nulJoin([path]), this.txId) !== "ENOENT",
    );
  }
}

/** The operations of one open transaction. */
class LocalTransactionOps extends LocalOps {
  protected readonly txId: number;
  protected readonly runner: Runner;

  constructor(runner: Runner, txId: number) {
    super();
    this.runner = runner;
    this.txId = txId;
  }
}

/** See the file header. */
export class LocalXenbusTransport extends LocalOps implements XenbusTransport, Disposable {
  /** A transport on a new connection of `host` (its watches are leak-checked like any client's). */
  static open(
    host: XenstoreOpener,
    opts: { transactionRetries?: number } = {},
  ): LocalXenbusTransport {
    return new LocalXenbusTransport(host.openXenstore(), opts);
  }

  readonly client: XsLocalClient;
  readonly #retries: number;
  readonly #listeners = new Map<string, (e: XsWatchEvent) => void>();
  readonly #closeListeners = new Set<(e: XenbusError) => void>();
  #flushQueued = false;

  protected readonly txId = 0;
  protected readonly runner: Runner = (type, path, fn) => this.run(type, path, fn);

  constructor(client: XsLocalClient, opts: { transactionRetries?: number } = {}) {
    super();
    this.client = client;
    this.#retries = opts.transactionRetries ?? DEFAULT_TRANSACTION_RETRIES;
    client.conn.on("output", () => this.#flushSoon());
    client.conn.on("close", (reason) => {
      const err = new XenbusError({ reason: "closed", detail: `xenstored connection ${reason}` });
      for (const l of [...this.#closeListeners]) l(err);
      this.#closeListeners.clear();
      this.#listeners.clear();
    });
  }

  get conn(): Connection {
    return this.client.conn;
  }

  get closed(): boolean {
    return this.client.conn.closed;
  }

  /** @internal Runs one synchronous request as a promise, with XenbusError errors. */
  run<T>(type: number, path: string | undefined, fn: (c: XsLocalClient) => T): Promise<T> {
    if (this.client.conn.closed)
      return Promise.reject(new XenbusError({ reason: "closed", type, path }));
    try {
      return Promise.resolve(fn(this.client));
    } catch (e) {
      if (e instanceof XenstoreError)
        return Promise.reject(
          new XenbusError({ reason: "error-reply", type, path, serverName: e.code }),
        );
      return Promise.reject(
        new XenbusError({
          reason: "closed",
          type,
          path,
          detail: e instanceof Error ? e.message : String(e),
        }),
      );
    } finally {
      this.#flushSoon();
    }
  }

  /** Watch events collected so far go to their subscribers from a microtask. */
  #flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      if (this.client.conn.closed) return;
      const events: WatchEvent[] = this.client.pollEvents();
      for (const e of events) this.#listeners.get(e.token)?.({ path: e.path, token: e.token });
    });
  }

  watch(path: string): Observable<XsWatchEvent> {
    return new Observable<XsWatchEvent>((sub) => {
      const n = (tokensIssued.get(this.client.conn) ?? 0) + 1;
      tokensIssued.set(this.client.conn, n);
      const token = `pvkit-local-${n}`;
      const onClose = (err: XenbusError): void => sub.error(err);
      this.#listeners.set(token, (e) => sub.next(e));
      this.#closeListeners.add(onClose);
      let registered = false;
      // run() is synchronous underneath: the WATCH is registered (or refused) before it returns.
      this.run(XS.XS_WATCH, path, (c) => {
        c.watch(path, token);
        registered = true;
      }).catch((err: unknown) => sub.error(err));
      return () => {
        this.#listeners.delete(token);
        this.#closeListeners.delete(onClose);
        if (registered && !this.client.conn.closed) {
          try {
            this.client.unwatch(path, token);
          } catch {
            // Refused earlier (the error went to the subscriber); nothing to undo.
          }
        }
      };
    });
  }

  async transaction<T>(
    fn: (tx: XenbusOps) => Promise<T> | T,
    opts: XenbusTransactionOptions = {},
  ): Promise<T> {
    const retries = opts.retries ?? this.#retries;
    for (let attempt = 0; ; attempt++) {
      const id = await this.run(XS.XS_TRANSACTION_START, undefined, (c) => c.transactionStart());
      let result: T;
      try {
        result = await fn(new LocalTransactionOps(this.runner, id));
      } catch (err) {
        await this.run(XS.XS_TRANSACTION_END, undefined, (c) => c.transactionEnd(id, false)).catch(
          () => undefined,
        );
        if (isEagain(err) && attempt < retries) continue;
        throw err;
      }
      try {
        await this.run(XS.XS_TRANSACTION_END, undefined, (c) => c.transactionEnd(id, true));
        return result;
      } catch (err) {
        if (isEagain(err) && attempt < retries) continue;
        throw err;
      }
    }
  }

  /** Closes the connection: xenstored drops its watches and transactions; subscribers error. */
  close(): void {
    if (!this.client.conn.closed) this.client.conn.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function isEagain(err: unknown): boolean {
  return err instanceof XenbusError && err.code === "EAGAIN";
}
