/**
 * The scheduler's queue: tasks ordered by (virtual time, tie-breaker, insertion sequence).
 * A binary min-heap; cancelled tasks are dropped lazily when they reach the top.
 */
export class Task {
  cancelled = false;

  constructor(
    readonly queue: TaskQueue,
    /** Virtual time (ns) at which the task runs. */
    readonly at: number,
    /** Chaos tie-breaker among tasks at the same time (0 without chaos). */
    readonly tie: number,
    /** Insertion order: the final tie-breaker, so equal tasks run FIFO. */
    readonly seq: number,
    /** "delivery" tasks are what runUntilIdle drains; "timer" tasks wait for virtual time. */
    readonly kind: "delivery" | "timer",
    readonly run: () => void,
  ) {}

  /** Cancels the task if it has not run. Idempotent. */
  cancel(): void {
    this.queue.cancel(this);
  }
}

function before(a: Task, b: Task): boolean {
  return a.at !== b.at ? a.at < b.at : a.tie !== b.tie ? a.tie < b.tie : a.seq < b.seq;
}

export class TaskQueue {
  readonly #heap: Task[] = [];
  #deliveries = 0;

  get size(): number {
    return this.#heap.length;
  }

  /** Live (not cancelled) delivery tasks still queued. */
  get pendingDeliveries(): number {
    return this.#deliveries;
  }

  push(t: Task): void {
    if (t.kind === "delivery") this.#deliveries++;
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const hp = h[p]!;
      if (!before(t, hp)) break;
      h[i] = hp;
      i = p;
    }
    h[i] = t;
  }

  /** Marks `t` cancelled; it will be skipped. */
  cancel(t: Task): void {
    if (t.cancelled) return;
    t.cancelled = true;
    if (t.kind === "delivery") this.#deliveries--;
  }

  /** The next live task without removing it. */
  peek(): Task | undefined {
    this.#dropCancelled();
    return this.#heap[0];
  }

  /** Removes and returns the next live task. */
  pop(): Task | undefined {
    this.#dropCancelled();
    const t = this.#popRaw();
    if (t !== undefined && t.kind === "delivery") this.#deliveries--;
    return t;
  }

  #dropCancelled(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#popRaw();
  }

  #popRaw(): Task | undefined {
    const h = this.#heap;
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
