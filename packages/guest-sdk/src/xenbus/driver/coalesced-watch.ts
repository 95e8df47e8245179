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
 * The part every bounded watch shares: subscribes to `events$`, hands each event to `note` (which
 * records what the next run must do, in bounded space), and runs `runOnce` in a microtask while
 * `hasWork()` says so, with at most one run queued or in progress (events during a run are picked
 * up by its loop). `onError` gets what a run throws or the watch errors with; the watch stays open
 * after a run's error. `onClose` drops what `note` recorded.
 * @internal
 */
export function boundedWatch(
  events$: Observable<XsWatchEvent>,
  note: (ev: XsWatchEvent) => void,
  hasWork: () => boolean,
  runOnce: () => Promise<void> | void,
  onError: (err: unknown) => void,
  stats: WatchStats,
  onClose?: () => void,
): CoalescedWatch {
  let closed = false;
  let queued = false;
  let running = false;
  const run = async (): Promise<void> => {
    queued = false;
    stats.backlog--;
    if (closed) return;
    running = true;
    try {
      while (!closed && hasWork()) {
        stats.runs++;
        try {
          await runOnce();
        } catch (err) {
          onError(err);
        }
      }
    } finally {
      running = false;
    }
  };
  const kick = (ev: XsWatchEvent): void => {
    stats.events++;
    if (closed) return;
    note(ev);
    if (running || queued) return; // the loop in run() picks the work up
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
      onClose?.();
      sub.unsubscribe();
    },
  };
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
  let dirty = false;
  return boundedWatch(
    events$,
    () => {
      dirty = true;
    },
    () => dirty,
    () => {
      dirty = false;
      return handler();
    },
    onError,
    stats,
  );
}
