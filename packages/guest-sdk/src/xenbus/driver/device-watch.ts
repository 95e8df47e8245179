/**
 * The bus's own watch (on `backend/<type>` or `device/<type>`), bounded as coalesced-watch.ts is
 * (XSA-349, CVE-2020-29568: at most one pending run per watch), but keeping *which* devices the
 * events named, so the bus can handle each of them as Linux's `xenbus_dev_changed` does instead of
 * listing the whole directory again.
 *
 * Each event's path is cut to a key by `keyOf` (the device it names, see xenbus-bus.ts); the keys
 * wait in a set until the next run, so a device written 1000 times between two runs is handled
 * once. The set holds at most `maxKeys` keys: an event that would add one more, or one whose path
 * names no key (the watched node itself: the initial event of WATCH, or the directory created or
 * removed), drops the set and asks the next run for one full pass over the directory instead,
 * which covers every device the dropped keys named. So a peer that writes under 100 000
 * different device paths costs at most `maxKeys` strings and one full pass per run, not 100 000
 * queued callbacks.
 */
import type { Observable } from "rxjs";
import type { XsWatchEvent } from "../xs-ring-connection.js";
import { boundedWatch, type CoalescedWatch, type WatchStats } from "./coalesced-watch.js";

/** What one run of a {@link deviceWatch} handles. @internal */
export interface DeviceBatch {
  /** The keys named since the previous run started, in first-seen order (empty when `full`). */
  readonly keys: readonly string[];
  /** A full pass is due (the watched node's own event, a path outside it, or the key cap hit). */
  readonly full: boolean;
}

/**
 * Subscribes to `events$` and runs `handler` with the keys the events named, at most one run
 * pending at a time (a run starts in a microtask, never inside the client's event dispatch).
 * `keyOf` returns the key of an event path, or undefined when the path calls for a full pass.
 * `onError` gets what the handler throws or the watch errors with; the watch stays open after a
 * handler error (the keys of that run are not retried). `stats` counts as coalescedWatch does.
 * @throws RangeError if `maxKeys` is not a positive integer.
 * @internal
 */
export function deviceWatch(
  events$: Observable<XsWatchEvent>,
  keyOf: (path: string) => string | undefined,
  maxKeys: number,
  handler: (batch: DeviceBatch) => Promise<void> | void,
  onError: (err: unknown) => void,
  stats: WatchStats,
): CoalescedWatch {
  if (!Number.isInteger(maxKeys) || maxKeys < 1)
    throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`);
  let keys = new Set<string>();
  let full = false;
  const note = (path: string): void => {
    if (full) return; // the pass already due covers this path
    const k = keyOf(path);
    if (k !== undefined && (keys.has(k) || keys.size < maxKeys)) {
      keys.add(k);
      return;
    }
    // No key, or one key too many: one full pass instead of the keys (XSA-349's bound).
    full = true;
    keys.clear();
  };
  return boundedWatch(
    events$,
    (ev) => note(ev.path),
    () => full || keys.size > 0,
    () => {
      const batch: DeviceBatch = { keys: [...keys], full };
      keys = new Set();
      full = false;
      return handler(batch);
    },
    onError,
    stats,
    () => keys.clear(),
  );
}
