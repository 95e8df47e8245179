/**
 * The scheduler's queue: tasks ordered by (virtual time, tie-breaker, insertion sequence).
 * Cancelled tasks are dropped lazily when they reach the front.
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
  // Two structures with one order, (at, tie, seq): a heap for timers and chaos-delayed deliveries,
  // and a FIFO for the common case — deliveries queued "now" without chaos — which arrive
  // already sorted (time never goes back, seq only grows) and need no heap work.
  readonly #heap: Task[] = [];
  // The FIFO is a circular buffer (capacity a power of two) so a push/shift pair per delivery
  // costs no array reshaping.
  #fifo: (Task | undefined)[] = new Array<Task | undefined>(64).fill(undefined);
  #fifoHead = 0;
  #fifoCount = 0;
  #deliveries = 0;

  get size(): number {
    return this.#heap.length + this.#fifoCount;
  }

  /** Live (not cancelled) delivery tasks still queued. */
  get pendingDeliveries(): number {
    return this.#deliveries;
  }

  push(t: Task): void {
    if (t.kind === "delivery") this.#deliveries++;
    if (
      t.kind === "delivery" &&
      t.tie === 0 &&
      (this.#fifoCount === 0 || this.#fifoTail().at <= t.at)
    ) {
      this.#pushFifo(t);
      return;
    }
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
    const f = this.#fifoCount > 0 ? this.#fifo[this.#fifoHead] : undefined;
    const h = this.#heap[0];
    if (f === undefined) return h;
    if (h === undefined) return f;
    return before(h, f) ? h : f;
  }

  /** Removes and returns the next live task. */
  pop(): Task | undefined {
    const t = this.peek();
    if (t === undefined) return undefined;
    if (t === this.#heap[0]) this.#popHeap();
    else this.#shiftFifo();
    if (t.kind === "delivery") this.#deliveries--;
    return t;
  }

  #dropCancelled(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#popHeap();
    while (this.#fifoCount > 0 && this.#fifo[this.#fifoHead]!.cancelled) this.#shiftFifo();
  }

  #fifoTail(): Task {
    return this.#fifo[(this.#fifoHead + this.#fifoCount - 1) & (this.#fifo.length - 1)]!;
  }

  #pushFifo(t: Task): void {
    let ring = this.#fifo;
    if (this.#fifoCount === ring.length) {
      const grown = new Array<Task | undefined>(ring.length * 2).fill(undefined);
      for (let i = 0; i < this.#fifoCount; i++)
        grown[i] = ring[(this.#fifoHead + i) & (ring.length - 1)];
      this.#fifo = ring = grown;
      this.#fifoHead = 0;
    }
    ring[(this.#fifoHead + this.#fifoCount) & (ring.length - 1)] = t;
    this.#fifoCount++;
  }

  #shiftFifo(): void {
    this.#fifo[this.#fifoHead] = undefined;
    this.#fifoHead = (this.#fifoHead + 1) & (this.#fifo.length - 1);
    this.#fifoCount--;
  }

  #popHeap(): void {
    const h = this.#heap;
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
  }
}
