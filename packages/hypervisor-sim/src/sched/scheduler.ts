/**
 * The hypervisor's scheduler and virtual clock. Nothing here touches real time: deliveries
 * (upcalls, wake-ups) and timers are tasks on one queue ordered by virtual time.
 *
 * Two ways to drive it:
 * - auto-run (default): whenever work is queued, a pump is scheduled with `setImmediate`; it
 *   drains deliveries, and when only timers remain it jumps virtual time to the next one;
 * - manual: tests call `step()`, `runUntilIdle()` and `advance(ns)` and control every interleaving.
 *
 * With a chaos seed, each delivery is delayed by a random number of virtual nanoseconds and ties
 * are broken randomly, so deliveries to different vCPUs and domains reorder. A single port's
 * events still coalesce in its pending bit, so they never reorder. Same seed, same interleaving.
 */
import { Rng } from "./rng.js";
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
  /** Deliveries run per auto pump before yielding to the event loop. Default 10000. */
  pumpBudget?: number;
}

/** A cancellable handle to a scheduled task. */
export interface TimerHandle {
  cancel(): void;
  readonly at: number;
}

export class Scheduler {
  #now = 0;
  #seq = 0;
  readonly #queue = new TaskQueue();
  readonly #rng: Rng | undefined;
  readonly #maxDelay: number;
  #mode: "auto" | "manual";
  #pumpScheduled = false;
  readonly #pumpBudget: number;

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
    if (this.#mode === "auto") this.#schedulePump();
    return task;
  }

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

  /**
   * Resolves once the scheduler is idle (no pending delivery) and the microtasks that idleness
   * released have settled. In manual mode this also drives the queue.
   */
  async settle(maxRounds = 10_000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      this.runUntilIdle();
      // Let promise continuations of guest code run; they may queue more work.
      await new Promise<void>((r) => setImmediate(r));
      if (this.#queue.pendingDeliveries === 0) return;
    }
    throw new Error(`scheduler did not settle after ${maxRounds} rounds`);
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      if (this.#mode !== "auto") return;
      const ran = this.runUntilIdle(this.#pumpBudget);
      if (this.#queue.pendingDeliveries > 0 || ran >= this.#pumpBudget) {
        this.#schedulePump();
        return;
      }
      // Only timers remain: jump virtual time to the next one.
      const next = this.#queue.peek();
      if (next !== undefined) {
        this.advance(next.at - this.#now);
        if (this.#queue.size > 0) this.#schedulePump();
      }
    });
  }
}
