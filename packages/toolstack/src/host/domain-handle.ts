/**
 * A domain the host built: the handle users hold (`DomainHandle`) and the bookkeeping behind it
 * (`DomainRecord`): the guest's `main` outcome, its abort signal, and whether xenstored has
 * released it yet.
 */
import type { BootLayout } from "./boot-layout.js";
import type { DeviceRemoval } from "./device-remove.js";
import type { GuestContext } from "./guest-context.js";

/** What `destroyDomain` did. */
export interface DestroyReport {
  readonly domid: number;
  readonly name: string;
  /** Every device and how it went away, consoles first. */
  readonly devices: readonly DeviceRemoval[];
  /** The devices whose backend never reached Closed within the timeout. */
  readonly timedOut: readonly DeviceRemoval[];
}

/** Options of `destroyDomain`. */
export interface DestroyOptions {
  /** How long to wait for each backend to reach Closed, in virtual ns. Default 10 s (libxl). */
  readonly timeoutNs?: number;
}

/** A guest's `main` threw or rejected; its domain was crashed. */
export interface DomainCrash {
  readonly domid: number;
  readonly name: string;
  readonly error: unknown;
}

/** The user's handle on a domain. */
export interface DomainHandle {
  readonly domid: number;
  readonly name: string;
  readonly uuid: string;
  /** Where the boot pages are. */
  readonly layout: BootLayout;
  /** The store and console ports allocated in the guest for dom0. */
  readonly storePort: number;
  readonly consolePort: number;
  /**
   * Settles with the guest's `main`: resolves when it returns, rejects with what it threw. A
   * domain without `main` resolves at once. Awaiting it counts as observing a crash.
   */
  readonly done: Promise<void>;
  /** The error that crashed the domain, if its `main` threw. */
  readonly crash: unknown;
  /** Tears the domain down (see `Host.destroyDomain`). */
  destroy(opts?: DestroyOptions): Promise<DestroyReport>;
}

/** @internal The host's record of a domain. */
export class DomainRecord implements DomainHandle {
  readonly domid: number;
  readonly name: string;
  readonly uuid: string;
  readonly layout: BootLayout;
  readonly storePort: number;
  readonly consolePort: number;
  readonly abort = new AbortController();
  /** Set once `main` failed (the crash cause). */
  crashed = false;
  crashError: unknown;
  /** Someone awaited `done` or listened for crashes: the crash is not silent. */
  crashObserved = false;
  /** xenstored has forgotten the domain (domainDied ran). */
  released = false;
  /** The destroy in progress, if any. */
  destroying: Promise<DestroyReport> | undefined;
  context: GuestContext | undefined;
  readonly #done: Promise<void>;
  #mainReturned = false;
  #resolveDone!: () => void;
  #rejectDone!: (err: unknown) => void;
  readonly #releaseWaiters: (() => void)[] = [];
  readonly #destroy: (opts?: DestroyOptions) => Promise<DestroyReport>;

  constructor(
    init: Pick<DomainHandle, "domid" | "name" | "uuid" | "layout" | "storePort" | "consolePort">,
    destroy: (opts?: DestroyOptions) => Promise<DestroyReport>,
  ) {
    this.domid = init.domid;
    this.name = init.name;
    this.uuid = init.uuid;
    this.layout = init.layout;
    this.storePort = init.storePort;
    this.consolePort = init.consolePort;
    this.#destroy = destroy;
    this.#done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    // A crash is reported through the host; an unawaited `done` must not be an unhandled rejection.
    this.#done.catch(() => undefined);
  }

  get done(): Promise<void> {
    this.crashObserved = true;
    return this.#done;
  }

  get crash(): unknown {
    return this.crashError;
  }

  destroy(opts?: DestroyOptions): Promise<DestroyReport> {
    return this.#destroy(opts);
  }

  /** @internal `main` returned. */
  mainReturned(): void {
    this.#mainReturned = true;
    this.#resolveDone();
  }

  /**
   * @internal An event handler of the guest (an `onEvent` callback, an `events$` subscriber)
   * threw: `done` rejects with it while `main` runs; after `main` returned, whoever awaited
   * `done` saw a success, so the crash counts as unobserved until a crash listener sees it.
   */
  handlerFailed(err: unknown): void {
    if (this.#mainReturned) this.crashObserved = false;
    this.#rejectDone(err);
  }

  /** @internal `main` failed. */
  mainFailed(err: unknown): void {
    this.#rejectDone(err);
  }

  /** @internal Resolves once xenstored has released the domain. */
  whenReleased(): Promise<void> {
    if (this.released) return Promise.resolve();
    return new Promise((resolve) => this.#releaseWaiters.push(resolve));
  }

  /** @internal xenstored released the domain. */
  markReleased(): void {
    if (this.released) return;
    this.released = true;
    for (const w of this.#releaseWaiters.splice(0)) w();
  }
}
