/**
 * The hypervisor's scheduler and virtual clock. Nothing here touches real time: deliveries
 * (upcalls, wake-ups) and timers are tasks on one queue ordered by virtual time.
 *
 * ## The quiescence rule
 *
 * Virtual time advances only when the whole host is quiescent:
 * - no task is due (every queued delivery and timer lies in the future);
 * - no guest or dom0 code is runnable: every promise continuation released by the tasks that
 *   ran has run. Guest and dom0 code run as microtasks and macrotasks of the Node event loop,
 *   so the scheduler waits {@link QUIET_TURNS} whole event-loop turns in which nothing ran and
 *   nothing was queued, then moves the clock on the turn after, if that one is quiet too (a
 *   continuation that yields up to QUIET_TURNS times through `setImmediate` is still seen);
 * - no real I/O is in flight: code that waits on the outside world (a file-backed disk, a
 *   socket, a terminal) takes a {@link ClockHold} with {@link Scheduler.hold} for as long as it
 *   waits, and time stands still until every hold is released.
 *
 * Only then does the clock jump to the next task, be it a timer or a delivery that chaos
 * delayed. One rule serves both ways of driving, so the same scenario reaches the same virtual
 * timestamps in either:
 * - auto-run (default): a pump on `setImmediate` applies the rule by itself, forever;
 * - manual: nothing runs until a test calls the synchronous `step()`, `runUntilIdle()`,
 *   `advance(ns)` and `runToNextTimer()` (which run tasks back to back, without letting guest
 *   continuations in between: use them to control every interleaving), or the asynchronous
 *   {@link Scheduler.settle} and {@link Scheduler.until}, which apply the rule while they run.
 *
 * When the host is quiescent and no task is left at all, nothing can ever happen again unless
 * code outside the host acts: the scheduler is *stalled*. {@link Scheduler.until} turns a stall
 * into a {@link StallError} that says what every domain is blocked on, instead of a hang.
 *
 * With a chaos seed, each delivery is delayed by a random number of virtual nanoseconds and ties
 * are broken randomly, so deliveries to different vCPUs and domains reorder. A single port's
 * events still coalesce in its pending bit, so they never reorder. Same seed, same interleaving.
 */
import { Rng } from "./rng.js";
import { PvkitError } from "../pvkit-error.js";
import { Task, TaskQueue } from "./task-queue.js";

/** Chaos policy: seeded delays and reordering of deliveries. */
export interface ChaosOptions {
  /** PRNG seed. */
  seed: number;
  /** Upper bound (exclusive) of the delay added to each delivery, in virtual ns. Default 1000. */
  maxDelayNs?: number;
}

export interface SchedulerOptions {
  /** "auto" (default) pumps itself on the Node event loop; "manual" waits for step()/advance(). */
  mode?: "auto" | "manual";
  chaos?: ChaosOptions;
  /** Tasks run per event-loop turn before yielding to the event loop. Default 10000. */
  pumpBudget?: number;
}

/** A cancellable handle to a scheduled task. */
export interface TimerHandle {
  cancel(): void;
  readonly at: number;
}

/**
 * Holds virtual time still while real I/O is in flight (see the quiescence rule). Release it
 * when the I/O completes, whatever its outcome; releasing twice is a no-op.
 */
export interface ClockHold extends Disposable {
  /** What is being waited for, as shown in stall reports and {@link Scheduler.holds}. */
  readonly reason: string;
  release(): void;
}

/**
 * Event-loop turns with nothing run and nothing queued that make the host quiescent (the clock
 * moves on the turn after). Two, so that a continuation which yields through `setImmediate`
 * twice still runs before time moves; longer waits of one's own take a {@link ClockHold}.
 */
export const QUIET_TURNS = 2;

/** What one turn of the rule did. */
type TurnResult = "ran" | "waiting" | "quiescent" | "advanced" | "held" | "stalled";

/**
 * Thrown by {@link Scheduler.until} when the host is quiescent with no task left and the awaited
 * promise is still pending: it can never settle unless code outside the host acts.
 */
export class StallError extends PvkitError {
  override readonly name: string = "StallError";
  declare readonly code: "ERR_STALLED";
  /** Virtual time of the stall, ns. */
  readonly at: number;
  /** What each domain was blocked on (from the `describe` callback), one line each. */
  readonly report: readonly string[];

  constructor(what: string, at: number, report: readonly string[]) {
    const lines = report.length > 0 ? `\n${report.map((l) => `  ${l}`).join("\n")}` : "";
    super(
      "ERR_STALLED",
      `${what} can never settle: the host went quiescent at t=${at} ns with no timer or delivery left${lines}`,
    );
    this.at = at;
    this.report = report;
  }
}

/** Options of {@link Scheduler.until}. */
export interface UntilOptions {
  /** Names the awaited thing in the StallError. Default "the awaited promise". */
  readonly what?: string;
  /** Lines describing what is blocked, called only on a stall (e.g. `describeBlocked(hv)`). */
  readonly describe?: () => readonly string[];
}

/**
 * The virtual clock and the one task queue of a host (`hv.scheduler`): deliveries and timers
 * ordered by virtual time (ns), run under the quiescence rule of the file header — auto-run by a
 * `setImmediate` pump, or manually with `step`, `runUntilIdle`, `advance`, `runToNextTimer`,
 * `settle` and `until`. Optional seeded chaos delays and reorders deliveries. Never reads real
 * time; a `ClockHold` keeps the clock still while real I/O is in flight.
 */
export class Scheduler {
  #now = 0;
  #seq = 0;
  readonly #queue = new TaskQueue();
  readonly #rng: Rng | undefined;
  readonly #maxDelay: number;
  #mode: "auto" | "manual";
  #pumpScheduled = false;
  readonly #pumpBudget: number;
  /** Event-loop turns in a row in which nothing ran and nothing was queued. */
  #quiet = 0;
  readonly #holds = new Set<ClockHold>();
  /** Woken when a hold is released or a task is queued (async drivers waiting on a hold). */
  #wake: (() => void)[] = [];
  /** Auto mode: `settle()` calls waiting for the pump's next quiescent point. */
  #settleWaiters: (() => void)[] = [];
  /** Called when the auto pump stalls. */
  readonly #stallListeners = new Set<() => void>();

  constructor(opts: SchedulerOptions = {}) {
    this.#mode = opts.mode ?? "auto";
    this.#rng = opts.chaos ? new Rng(opts.chaos.seed) : undefined;
    this.#maxDelay = opts.chaos?.maxDelayNs ?? 1000;
    this.#pumpBudget = opts.pumpBudget ?? 10_000;
  }

  /** Virtual time in ns since boot. */
  get now(): number {
    return this.#now;
  }

  get mode(): "auto" | "manual" {
    return this.#mode;
  }

  /** Switch between auto-run and manual driving. */
  setMode(mode: "auto" | "manual"): void {
    this.#mode = mode;
    if (mode === "auto") this.#schedulePump();
  }

  /** Queue a delivery to run "soon": now, or after a chaos delay. */
  defer(run: () => void): TimerHandle {
    const rng = this.#rng;
    const delay = rng ? rng.below(this.#maxDelay) : 0;
    return this.#push(this.#now + delay, rng ? rng.nextU32() : 0, "delivery", run);
  }

  /** Queue a timer at absolute virtual time `at` (ns). Times in the past run at `now`. */
  at(at: number, run: () => void): TimerHandle {
    return this.#push(Math.max(at, this.#now), 0, "timer", run);
  }

  #push(at: number, tie: number, kind: Task["kind"], run: () => void): TimerHandle {
    const task = new Task(this.#queue, at, tie, this.#seq++, kind, run);
    this.#queue.push(task);
    this.#quiet = 0;
    if (this.#mode === "auto") this.#schedulePump();
    if (this.#wake.length > 0) this.#wakeDrivers();
    return task;
  }

  // ---- real I/O ---------------------------------------------------------------------------

  /**
   * Holds virtual time still until the returned hold is released: for real I/O in flight (a
   * file read behind a disk, a socket, a terminal). Tasks already due still run; the clock does
   * not move on to the next timer while any hold is taken.
   */
  hold(reason: string): ClockHold {
    const holds = this.#holds;
    const release = (): void => {
      if (!holds.delete(hold)) return;
      this.#quiet = 0;
      if (this.#mode === "auto") this.#schedulePump();
      this.#wakeDrivers();
    };
    const hold: ClockHold = { reason, release, [Symbol.dispose]: release };
    holds.add(hold);
    return hold;
  }

  /** The reasons of the holds taken now. */
  get holds(): readonly string[] {
    return [...this.#holds].map((h) => h.reason);
  }

  // ---- synchronous driving (manual mode) -----------------------------------------------------

  /** Runs the next task, advancing virtual time to it. Returns false when nothing is queued. */
  step(): boolean {
    const t = this.#queue.pop();
    if (t === undefined) return false;
    if (t.at > this.#now) this.#now = t.at;
    t.run();
    return true;
  }

  /**
   * Runs until no delivery is pending, advancing virtual time through chaos delays (and firing
   * any timer that falls due on the way). Timers beyond that stay queued. Returns tasks run.
   * Synchronous: guest continuations released on the way run only after it returns.
   */
  runUntilIdle(limit = Number.POSITIVE_INFINITY): number {
    let n = 0;
    while (n < limit) {
      const next = this.#queue.peek();
      if (next === undefined) break;
      if (this.#queue.pendingDeliveries === 0 && next.at > this.#now) break;
      this.step();
      n++;
    }
    return n;
  }

  /** Advances virtual time by `ns`, running every task due up to then, in order. */
  advance(ns: number): number {
    if (!(ns >= 0)) throw new RangeError(`advance(${ns}): ns must be >= 0`);
    const until = this.#now + ns;
    let n = 0;
    for (;;) {
      const next = this.#queue.peek();
      if (next === undefined || next.at > until) break;
      this.step();
      n++;
    }
    this.#now = until;
    n += this.runUntilIdle();
    return n;
  }

  /** Runs until the next timer (jumping virtual time) and everything it causes. False if none. */
  runToNextTimer(): boolean {
    this.runUntilIdle();
    const next = this.#queue.peek();
    if (next === undefined) return false;
    this.advance(next.at - this.#now);
    return true;
  }

  /** Tasks queued (deliveries and timers). */
  get queued(): number {
    return this.#queue.size;
  }

  /** Deliveries queued. */
  get pendingDeliveries(): number {
    return this.#queue.pendingDeliveries;
  }

  // ---- the quiescence rule --------------------------------------------------------------------

  /** Runs the tasks due now (at most `budget`), without moving the clock. */
  #runDue(budget: number): number {
    let n = 0;
    while (n < budget) {
      const next = this.#queue.peek();
      if (next === undefined || next.at > this.#now) break;
      this.#queue.pop();
      next.run();
      n++;
    }
    return n;
  }

  /**
   * One event-loop turn of the rule: run what is due; otherwise count a quiet turn. The turn
   * that completes {@link QUIET_TURNS} is the quiescent point (where `settle()` returns); on the
   * turn after it, if still nothing ran or was queued, the clock moves to the next task (timers
   * only when `timers`).
   */
  #turn(timers: boolean): TurnResult {
    if (this.#runDue(this.#pumpBudget) > 0) {
      this.#quiet = 0;
      return "ran";
    }
    const quiet = ++this.#quiet;
    if (quiet < QUIET_TURNS) return "waiting";
    if (this.#holds.size > 0) return "held";
    const next = this.#queue.peek();
    if (next === undefined) return "stalled";
    if (quiet === QUIET_TURNS || (!timers && next.kind === "timer")) return "quiescent";
    this.#now = next.at;
    this.#quiet = 0;
    return "advanced";
  }

  /**
   * Resolves once the host is quiescent with nothing due but timers: every delivery (chaos
   * delays included) has run and the guest continuations it released have settled. Timers stay
   * queued. In manual mode this drives the queue under the quiescence rule; in auto mode the
   * pump does, and this waits for it to get there.
   * @throws Error after `maxRounds` event-loop turns without getting there (a livelock).
   */
  async settle(maxRounds = 100_000): Promise<void> {
    if (this.#mode === "auto") {
      if (this.#stalledNow()) return;
      this.#schedulePump(); // the pump may never have run: nothing was ever queued
      await new Promise<void>((r) => this.#settleWaiters.push(r));
      return;
    }
    for (let i = 0; i < maxRounds; i++) {
      const r = this.#turn(false);
      if (r === "stalled" || (r === "quiescent" && this.#queue.pendingDeliveries === 0)) return;
      if (r === "held") await this.#waitForWake();
      else await nextTurn();
    }
    throw new Error(`scheduler did not settle after ${maxRounds} rounds`);
  }

  /**
   * Resolves or rejects as `p` does, while the scheduler runs under the quiescence rule: in
   * manual mode this drives it (timers fire as virtual time reaches them); in auto mode the pump
   * drives and this watches for a stall.
   * @throws StallError when the host goes quiescent with no task left while `p` is pending.
   */
  async until<T>(p: Promise<T>, opts: UntilOptions = {}): Promise<T> {
    let settled = false;
    const tracked = p.finally(() => {
      settled = true;
    });
    tracked.catch(noop);
    const stall = (): StallError =>
      new StallError(opts.what ?? "the awaited promise", this.#now, opts.describe?.() ?? []);
    if (this.#mode === "auto") {
      return new Promise<T>((resolve, reject) => {
        const check = (): void => {
          // Seen at the pump's turn: give p's own continuation one more turn first.
          setImmediate(() => {
            if (!settled && this.#stalledNow()) reject(stall());
          });
        };
        const off = this.onStall(check);
        tracked.then(resolve, reject).finally(off);
        if (this.#stalledNow()) check();
        else this.#schedulePump(); // the pump may never have run: nothing was ever queued
      });
    }
    while (!settled) {
      const r = this.#turn(true);
      if (r === "stalled") {
        await nextTurn();
        if (settled) break;
        if (this.#turn(true) === "stalled") throw stall();
        continue;
      }
      if (r === "held") await Promise.race([this.#waitForWake(), tracked.then(noop, noop)]);
      else await nextTurn();
    }
    return tracked;
  }

  /**
   * Nothing is left to run, nothing holds the clock, and (auto mode) the pump has stopped after
   * its quiet turns: the host can never act again unless code outside it does.
   */
  get stalled(): boolean {
    return this.#mode === "auto"
      ? this.#stalledNow()
      : this.#queue.size === 0 && this.#holds.size === 0;
  }

  /** Auto mode: the pump has stopped because nothing is left to run (not merely held). */
  #stalledNow(): boolean {
    return (
      !this.#pumpScheduled &&
      this.#queue.size === 0 &&
      this.#holds.size === 0 &&
      this.#quiet >= QUIET_TURNS
    );
  }

  /**
   * Calls `listener` each time the auto pump stalls: quiescent, with no task left. Returns a
   * function that removes it.
   */
  onStall(listener: () => void): () => void {
    this.#stallListeners.add(listener);
    return () => void this.#stallListeners.delete(listener);
  }

  #waitForWake(): Promise<void> {
    return new Promise<void>((r) => this.#wake.push(r));
  }

  #wakeDrivers(): void {
    const w = this.#wake;
    this.#wake = [];
    for (const r of w) r();
  }

  #wakeSettlers(): void {
    const w = this.#settleWaiters;
    if (w.length === 0) return;
    this.#settleWaiters = [];
    for (const r of w) r();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(this.#pump);
  }

  readonly #pump = (): void => {
    this.#pumpScheduled = false;
    if (this.#mode !== "auto") return;
    const r = this.#turn(true);
    if (r === "held") return; // releasing the hold (or queueing a task) schedules the next turn
    if (r === "stalled" || (r === "quiescent" && this.#queue.pendingDeliveries === 0))
      this.#wakeSettlers();
    if (r === "stalled") {
      for (const l of this.#stallListeners) l();
      return;
    }
    this.#schedulePump();
  };
}

function nextTurn(): Promise<void> {
  return new Promise<void>((r) => setImmediate(r));
}

function noop(): void {}
