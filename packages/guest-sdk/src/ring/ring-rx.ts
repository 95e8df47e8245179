/**
 * Thin rxjs adapters over the synchronous ring core: each time a notification arrives on
 * `kick$`, drain the ring with the final-check re-arm and emit what was consumed.
 *
 * ```ts
 * const sub = requests$(back, port.events$).subscribe((req) => {
 *   back.produceResponse(handle(req));
 *   if (back.pushResponsesAndCheckNotify()) port.notify();
 * });
 * ```
 *
 * Both are cold: subscribing subscribes to `kick$`, unsubscribing unsubscribes from it.
 * They drain only when `kick$` emits; start `kick$` with a value (`startWith(undefined)`) to
 * drain what was already published before the subscription.
 */
import { Observable } from "rxjs";
import type { BackRing } from "./back-ring.js";
import type { FrontRing } from "./front-ring.js";
import { RingProtocolError } from "./ring-error.js";

/** Options of `requests$` / `responses$`. */
export interface RingDrainOptions {
  /**
   * Receives entries that failed validation on a ring that reports rather than halts
   * (`onInvalidEntry: "report"`); the drain then carries on. Without it such an entry errors
   * the stream. Errors of a halted ring always error the stream.
   */
  onInvalid?: (error: RingProtocolError) => void;
}

interface Drainable<T> {
  take(): T | undefined;
  finalCheck(): boolean;
  halted(): RingProtocolError | undefined;
}

function drain$<T>(
  kick$: Observable<unknown>,
  ring: Drainable<T>,
  options: RingDrainOptions | undefined,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    // Next item, handing reportable invalid entries to `onInvalid` (the ring has moved past them).
    const take = (): T | undefined => {
      for (;;) {
        try {
          return ring.take();
        } catch (err) {
          const reportable =
            err instanceof RingProtocolError &&
            err.reason === "invalid-entry" &&
            ring.halted() === undefined;
          if (!reportable || options?.onInvalid === undefined) throw err;
          options.onInvalid(err);
        }
      }
    };
    let draining = false;
    let again = false;
    const run = (): void => {
      // A kick arriving while we drain (e.g. emitted synchronously from `next`) becomes another
      // pass instead of a recursive drain.
      if (draining) {
        again = true;
        return;
      }
      draining = true;
      try {
        do {
          again = false;
          for (;;) {
            let item: T | undefined;
            while (!subscriber.closed && (item = take()) !== undefined) subscriber.next(item);
            if (subscriber.closed || !ring.finalCheck()) break;
          }
        } while (again && !subscriber.closed);
      } catch (err) {
        subscriber.error(err);
      } finally {
        draining = false;
      }
    };
    const sub = kick$.subscribe({
      next: run,
      error: (err: unknown) => subscriber.error(err),
      complete: () => subscriber.complete(),
    });
    return () => sub.unsubscribe();
  });
}

/**
 * Requests from a backend ring: on every `kick$` emission, consumes all published requests
 * (`consumeRequest`) and repeats while `finalCheckForRequests()` finds more after re-arming
 * `req_event`. Completes when `kick$` completes; errors with the ring's RingProtocolError.
 */
export function requests$<Req, Rsp>(
  back: BackRing<Req, Rsp>,
  kick$: Observable<unknown>,
  options?: RingDrainOptions,
): Observable<Req> {
  return drain$(
    kick$,
    {
      take: () => back.consumeRequest(),
      finalCheck: () => back.finalCheckForRequests(),
      halted: () => back.halted,
    },
    options,
  );
}

/**
 * Responses from a frontend ring: on every `kick$` emission, consumes all published responses
 * (`consumeResponse`) and repeats while `finalCheckForResponses()` finds more after re-arming
 * `rsp_event`. Completes when `kick$` completes; errors with the ring's RingProtocolError.
 */
export function responses$<Req, Rsp>(
  front: FrontRing<Req, Rsp>,
  kick$: Observable<unknown>,
  options?: RingDrainOptions,
): Observable<Rsp> {
  return drain$(
    kick$,
    {
      take: () => front.consumeResponse(),
      finalCheck: () => front.finalCheckForResponses(),
      halted: () => front.halted,
    },
    options,
  );
}
