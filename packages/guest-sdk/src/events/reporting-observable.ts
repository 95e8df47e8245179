/**
 * An Observable whose consumers' exceptions go to a reporter, synchronously, instead of to rxjs.
 *
 * rxjs catches what a subscriber's `next`/`error`/`complete` throws and rethrows it later on a
 * real `setTimeout` (`reportUnhandledError`, with `config.onUnhandledError` called there too):
 * outside the simulator's virtual time, after the code that caused it — a test — may have
 * finished. Events are emitted inside an upcall, so a throwing consumer is a throwing interrupt
 * handler: this wraps each consumer in a try/catch that hands the exception to `report` at once
 * (EventChannel reports to `EventChannels.errors$`, like an `onEvent` handler's). Piped chains
 * stay wrapped (`lift` returns this class, as rxjs's Subject does), and an error reaching a
 * consumer that handles none (an operator threw) is reported too.
 */
import {
  Observable,
  type Observer,
  type Operator,
  Subscriber,
  type Subscription,
  type TeardownLogic,
} from "rxjs";

/** @internal */
export class ReportingObservable<T> extends Observable<T> {
  readonly #report: (error: unknown) => void;

  constructor(
    subscribe: ((this: Observable<T>, subscriber: Subscriber<T>) => TeardownLogic) | undefined,
    report: (error: unknown) => void,
  ) {
    super(subscribe);
    this.#report = report;
  }

  override subscribe(
    observerOrNext?: Partial<Observer<T>> | ((value: T) => void) | null,
    error?: ((error: unknown) => void) | null,
    complete?: (() => void) | null,
  ): Subscription {
    // An operator's or rxjs's own subscriber (switchMap's inner, firstValueFrom): not a consumer.
    if (observerOrNext instanceof Subscriber) return super.subscribe(observerOrNext);
    const o: Partial<Observer<T>> =
      typeof observerOrNext === "function" || observerOrNext == null
        ? {
            ...(observerOrNext ? { next: observerOrNext } : {}),
            ...(error ? { error } : {}),
            ...(complete ? { complete } : {}),
          }
        : observerOrNext;
    const report = this.#report;
    const guard = (f: () => void): void => {
      try {
        f();
      } catch (err) {
        report(err);
      }
    };
    return super.subscribe({
      next: (v) => guard(() => o.next?.(v)),
      error: (e: unknown) => guard(() => (o.error ? o.error(e) : report(e))),
      complete: () => guard(() => o.complete?.()),
    });
  }

  override lift<R>(operator?: Operator<T, R>): Observable<R> {
    const lifted = new ReportingObservable<R>(undefined, this.#report);
    // What Observable.lift does (and Subject overrides the same way), keeping the reporter.
    lifted.source = this;
    lifted.operator = operator;
    return lifted;
  }
}
