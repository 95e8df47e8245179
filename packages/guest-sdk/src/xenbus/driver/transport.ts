/**
 * What the xenbus driver framework needs of a xenstore connection, so that the same drivers run
 * in a domU (over its xenstore ring: {@link XenbusClient}) and in dom0 (over a local xenstored
 * connection: the toolstack's `LocalXenbusTransport`), as Linux's xenbus does over `xenbus_xs.c`
 * in either kind of domain.
 *
 * Paths are absolute, or relative to the domain's home `/local/domain/<domid>`. Failures reject
 * with a {@link XenbusError} whose `code` is xenstored's error name (ENOENT, EACCES, EAGAIN, ...).
 */
import type { Observable } from "rxjs";
import type { XsWatchEvent } from "../xs-ring-connection.js";

/** The node operations, outside or inside a transaction. */
export interface XenbusOps {
  /** READ as UTF-8 text. Rejects ENOENT for a missing node. */
  read(path: string): Promise<string>;
  /** WRITE (creates missing parents). */
  write(path: string, value: string): Promise<void>;
  /** MKDIR (no error if it exists). */
  mkdir(path: string): Promise<void>;
  /** RM of the node and its subtree. */
  rm(path: string): Promise<void>;
  /** DIRECTORY: child names. Rejects ENOENT for a missing node. */
  directory(path: string): Promise<string[]>;
  /** Whether the node exists. */
  exists(path: string): Promise<boolean>;
}

/** Options of {@link XenbusTransport.transaction}. */
export interface XenbusTransactionOptions {
  /** Retries after EAGAIN before the error is passed on. */
  readonly retries?: number;
}

/**
 * An asynchronous xenstore connection with observable watches: what the framework runs on.
 * `XenbusClient` (a guest's ring) implements it; so does the toolstack's `LocalXenbusTransport`.
 */
export interface XenbusTransport extends XenbusOps {
  /**
   * A cold watch on `path` and below: subscribing sends WATCH with a token of its own (the
   * initial event comes first), unsubscribing sends UNWATCH. Event paths are as xenstored sends
   * them (relative if `path` was). Errors with the refused WATCH's XenbusError, or when the
   * connection fails.
   */
  watch(path: string): Observable<XsWatchEvent>;
  /**
   * Runs `fn` in a transaction and commits; on EAGAIN (at commit or thrown by `fn`) runs it
   * again, up to the retry limit. Any other error aborts and is rethrown.
   */
  transaction<T>(
    fn: (tx: XenbusOps) => Promise<T> | T,
    opts?: XenbusTransactionOptions,
  ): Promise<T>;
}
