/**
 * Bounded watch plumbing (XSA-349, CVE-2020-29568): a peer that rewrites a watched node 100 000
 * times must not make its watcher queue 100 000 callbacks. Linux's fix gives each watch a
 * `will_handle` filter, and the xenbus otherend watch handles an event only when none is pending
 * for it (`xenbus_watch->nr_pending`). Here each watch holds at most one pending run: events that
 * arrive while a run is queued or in progress set one "dirty" flag, and the handler — which
 * re-reads what it cares about — runs once more after the current run. Event payloads are not
 * kept, so the backlog per watch is at most 1 whatever the peer writes.
 */
import type { Observable, Subscription } from "rxjs";
import type { XsWatchEvent } from "../xs-ring-connection.js";

/** Counters shared by the watches of one bus. */
export interface WatchStats {
  /** Events received. */
  events: number;
  /** Handler runs (each covers every event since the previous run started). */
  runs: number;
  /** Runs queued right now (at most one per watch). */
  backlog: number;
  /** The largest `backlog` seen. */
  maxBacklog: number;
}

/** A new zeroed {@link WatchStats}. */
export function watchStats(): WatchStats {
  return { events: 0, runs: 0, backlog: 0, maxBacklog: 0 };
}

/** A subscription to a coalesced watch; `close()` unwatches and drops a pending run. */
export interface CoalescedWatch {
  close(): void;
  readonly closed: boolean;
}

/**
 * Subscribes to `events$` and runs `handler` after events, at most one run pending at a time.
 * A run starts in a microtask (never inside the client's event dispatch). `onError` gets what
 * the handler throws or the watch errors with; the watch stays open after a handler error.
 */
export function coalescedWatch(
  events$: Observable<XsWatchEvent>,
  handler: () => Promise<void> | void,
  onError: (err: unknown) => void,
  stats: WatchStats = watchStats(),
): CoalescedWatch {
  let closed = false;
  let queued = false;
  let running = false;
  let dirty = false;
  const run = async (): Promise<void> => {
    queued = false;
    stats.backlog--;
    if (closed) return;
    running = true;
    try {
      do {
        dirty = false;
        stats.runs++;
        try {
          await handler();
        } catch (err) {
          onError(err);
        }
      } while (dirty && !closed);
    } finally {
      running = false;
    }
  };
  const kick = (): void => {
    stats.events++;
    if (closed) return;
    if (running) {
      dirty = true;
      return;
    }
    if (queued) return;
    queued = true;
    stats.backlog++;
    if (stats.backlog > stats.maxBacklog) stats.maxBacklog = stats.backlog;
    queueMicrotask(() => void run());
  };
  const sub: Subscription = events$.subscribe({
    next: kick,
    error: (err: unknown) => {
      if (!closed) onError(err);
    },
  });
  return {
    get closed() {
      return closed;
    },
    close() {
      if (closed) return;
      closed = true;
      sub.unsubscribe();
    },
  };
}
