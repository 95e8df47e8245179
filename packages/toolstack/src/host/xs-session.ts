/**
 * The toolstack's own xenstore handle (libxl's `ctx->xsh`): a privileged in-process connection
 * to xenstored with libxl's conveniences — transactions retried on EAGAIN
 * (`retry_transaction:` in libxl), `mknod` (write "" then set perms, `libxl__xs_mknod`),
 * `pathCleanup` (remove a node and every parent it leaves empty, `libxl__xs_path_cleanup`) and
 * watches delivered to callbacks as soon as xenstored queues them.
 */
import type { Connection } from "../xenstored/connection.js";
import { XenstoreError } from "../xenstored/errors.js";
import { XsLocalClient, type WatchEvent } from "../xenstored/local-client.js";
import { parentOf } from "../xenstored/path.js";
import { getStrings } from "../xenstored/payload.js";
import { nulJoin, XS, xsString } from "@pvkit/hypervisor-sim/abi";

/** Transactions are retried this many times on EAGAIN before the error is passed on. */
export const MAX_TRANSACTION_RETRIES = 100;

export type WatchCallback = (event: WatchEvent) => void;

export class XsSession {
  readonly client: XsLocalClient;
  readonly #callbacks = new Map<string, WatchCallback>();
  #inRequest = 0;
  #flushQueued = false;
  #nextToken = 0;

  constructor(conn: Connection) {
    this.client = new XsLocalClient(conn);
    // Events queued by another client's request are delivered from a microtask, never from
    // inside xenstored's handling of that request (a callback may issue requests itself).
    conn.on("output", () => {
      if (this.#inRequest !== 0 || this.#flushQueued) return;
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        if (this.#inRequest === 0 && !this.conn.closed) this.#dispatch(this.client.pollEvents());
      });
    });
  }

  get conn(): Connection {
    return this.client.conn;
  }

  /** Runs one request (or several) with event delivery held back until they are done. */
  #guard<T>(fn: () => T): T {
    this.#inRequest++;
    try {
      return fn();
    } finally {
      this.#inRequest--;
      if (this.#inRequest === 0) this.#dispatch(this.client.takeEvents());
    }
  }

  #dispatch(events: WatchEvent[]): void {
    for (const e of events) this.#callbacks.get(e.token)?.(e);
  }

  /** READ, or undefined for ENOENT. @throws XenstoreError for anything else. */
  read(path: string, tx = 0): string | undefined {
    return this.#guard(() => {
      const r = this.client.requestOr("ENOENT", XS.XS_READ, nulJoin([path]), tx);
      return r === "ENOENT" ? undefined : xsString(r);
    });
  }

  write(path: string, value: string, tx = 0): void {
    this.#guard(() => this.client.write(path, value, tx));
  }

  /** `libxl__xs_mknod`: write an empty value, then set the permission list. */
  mknod(path: string, perms: readonly string[], tx = 0): void {
    this.#guard(() => {
      this.client.write(path, "", tx);
      this.client.setPerms(path, perms, tx);
    });
  }

  mkdir(path: string, tx = 0): void {
    this.#guard(() => this.client.mkdir(path, tx));
  }

  setPerms(path: string, perms: readonly string[], tx = 0): void {
    this.#guard(() => this.client.setPerms(path, perms, tx));
  }

  /** RM. @returns false when the node and its parent are missing (ENOENT), true otherwise. */
  rm(path: string, tx = 0): boolean {
    return this.#guard(
      () => this.client.requestOr("ENOENT", XS.XS_RM, nulJoin([path]), tx) !== "ENOENT",
    );
  }

  /** DIRECTORY, or [] for a missing node. */
  directory(path: string, tx = 0): string[] {
    return this.#guard(() => {
      const r = this.client.requestOr("ENOENT", XS.XS_DIRECTORY, nulJoin([path]), tx);
      return r === "ENOENT" ? [] : getStrings(r);
    });
  }

  /**
   * `libxl__xs_path_cleanup`: removes `path`, then each parent left without children, stopping
   * at the first parent that is missing or still has children (values do not count, as in libxl).
   * Nothing above `path` is touched when `path` itself could not be removed.
   */
  pathCleanup(path: string, tx = 0): void {
    if (!this.rm(path, tx)) return;
    for (let p = parentOf(path); p !== "/"; p = parentOf(p)) {
      const children = this.#guard(() => {
        const r = this.client.requestOr("ENOENT", XS.XS_DIRECTORY, nulJoin([p]), tx);
        return r === "ENOENT" ? undefined : getStrings(r);
      });
      if (children === undefined || children.length > 0) break;
      this.rm(p, tx);
    }
  }

  /**
   * Runs `fn` in a transaction and commits, starting again from scratch on EAGAIN (as libxl's
   * `retry_transaction` loops). An exception from `fn` aborts the transaction.
   * @throws XenstoreError EAGAIN after MAX_TRANSACTION_RETRIES conflicts, or `fn`'s error.
   */
  transaction<T>(fn: (tx: number) => T): T {
    for (let attempt = 0; ; attempt++) {
      const tx = this.#guard(() => this.client.transactionStart());
      let result: T;
      try {
        result = fn(tx);
      } catch (err) {
        this.#guard(() => this.client.transactionEnd(tx, false));
        throw err;
      }
      try {
        this.#guard(() => this.client.transactionEnd(tx, true));
        return result;
      } catch (err) {
        if (
          !(err instanceof XenstoreError && err.code === "EAGAIN") ||
          attempt >= MAX_TRANSACTION_RETRIES
        )
          throw err;
      }
    }
  }

  /**
   * WATCH `path` with a fresh token; `cb` gets every event, starting with xenstored's initial
   * one. Returns the unwatch function (idempotent; a closed connection is fine).
   */
  watch(path: string, cb: WatchCallback): () => void {
    const token = `pvkit-host-${this.#nextToken++}`;
    this.#callbacks.set(token, cb);
    try {
      this.#guard(() => this.client.watch(path, token));
    } catch (err) {
      this.#callbacks.delete(token);
      throw err;
    }
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.#callbacks.delete(token);
      if (this.conn.closed) return;
      this.#guard(() => {
        try {
          this.client.unwatch(path, token);
        } catch (err) {
          if (!(err instanceof XenstoreError && err.code === "ENOENT")) throw err;
        }
      });
    };
  }

  /** Watches registered through this session and not yet unwatched. */
  get watchCount(): number {
    return this.#callbacks.size;
  }
}
