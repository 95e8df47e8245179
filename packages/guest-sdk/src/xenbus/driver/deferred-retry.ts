/**
 * Timed retries of deferred grant ends (XSA-396), as Linux's `drivers/xen/grant-table.c` does
 * them: `gnttab_add_deferred` puts a grant the peer still maps on `deferred_list` and arms
 * `deferred_timer` for `jiffies + HZ`; `gnttab_handle_deferred` retries the list and re-arms the
 * timer every HZ while it is not empty. So a grant ended while a backend mapped it is ended
 * within one second of the backend unmapping it, with no further event needed — after its
 * device was released, its driver unregistered and its bus closed.
 *
 * The framework arms the retry wherever it releases a device's grants (disconnect, unplug,
 * unregister, reconnect) and the grant client still has deferred ends. One timer per grant
 * client (per guest), on the guest's {@link DriverTimers}. It stops as soon as the deferred list
 * drains (`GrantTableClient.onDeferredDrained`), so an idle guest holds no VIRQ_TIMER port, and
 * after {@link DEFERRED_RETRY_MAX_IDLE} retries in a row that end nothing (Linux keeps going; its
 * `warn_delay` of 60 is where it logs "g.e. %#x still pending"): a peer that never unmaps would
 * otherwise keep virtual time running forever. The grant then stays deferred until the guest's
 * next grant operation or `retryDeferred()`, and the next release re-arms the timer.
 */
import type { GrantTableClient } from "../../grants/grant-table-client.js";
import type { DriverTimers, TimeoutHandle } from "./timers.js";

/** Interval between retries, in virtual ns: HZ (1 s), as `deferred_timer`. */
export const DEFERRED_RETRY_INTERVAL_NS = 1_000_000_000;

/** Retries in a row that end nothing before the timer stops (Linux's `warn_delay`). */
export const DEFERRED_RETRY_MAX_IDLE = 60;

interface RetryTimer {
  handle: TimeoutHandle | undefined;
  idle: number;
}

const timers = new WeakMap<GrantTableClient, RetryTimer>();

/**
 * Retries `grants`' deferred ends now and, if some remain, makes sure a timer retries them every
 * {@link DEFERRED_RETRY_INTERVAL_NS}. Returns how many were ended now.
 */
export function retryDeferredGrants(grants: GrantTableClient, clock: DriverTimers): number {
  const ended = grants.retryDeferred();
  if (grants.deferred === 0) return ended;
  let t = timers.get(grants);
  if (t === undefined) {
    const timer: RetryTimer = { handle: undefined, idle: 0 };
    timers.set(grants, (t = timer));
    grants.onDeferredDrained(() => {
      timer.handle?.cancel();
      timer.handle = undefined;
    });
  }
  t.idle = 0;
  if (t.handle === undefined) arm(grants, clock, t);
  return ended;
}

function arm(grants: GrantTableClient, clock: DriverTimers, t: RetryTimer): void {
  t.handle = clock.after(DEFERRED_RETRY_INTERVAL_NS, () => {
    t.handle = undefined;
    const ended = grants.retryDeferred();
    if (grants.deferred === 0) return;
    t.idle = ended > 0 ? 0 : t.idle + 1;
    if (t.idle < DEFERRED_RETRY_MAX_IDLE) arm(grants, clock, t);
  });
}
