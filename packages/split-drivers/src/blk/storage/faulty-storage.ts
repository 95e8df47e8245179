/**
 * A storage that fails and stalls on purpose, around any other: I/O errors at the n-th
 * operation or at a seeded rate, and slow I/O delayed in virtual time by the host's scheduler.
 * What a disk with bad sectors, a flaky SAN or a congested queue gives Linux blkback: the bio
 * completes with an error (blkback answers BLKIF_RSP_ERROR, `__end_block_io_op`) or late.
 *
 * ```ts
 * const disk = new FaultyStorage(new MemoryStorage({ bytes: 1 << 20 }), {
 *   seed: t.seed,
 *   scheduler: host.hv.scheduler,
 *   failAt: [3],                   // the 3rd operation fails with EIO
 *   failRate: 0.05,                // and 5% of the others
 *   delayNs: { min: 10_000, max: 2_000_000 },
 * });
 * ```
 *
 * Operations (read, write, flush, discard) are numbered from 1 in the order they are called.
 * A failing operation touches nothing below (a failed write leaves the old bytes). Delays are
 * virtual: the operation starts when the scheduler's timer fires, so an awaiting test never
 * sleeps, and a seed fixes both which operations fail and how long each takes. There is no
 * synchronous fast path (`readToPages`): every operation goes through the faults.
 */
import { Rng } from "@pvkit/hypervisor-sim";
import { StorageError, type Storage } from "./storage.js";
import { WrappedStorage } from "./wrapped-storage.js";

/** A storage operation, as counted by {@link FaultyStorage}. */
export type StorageOp = "read" | "write" | "flush" | "discard";

/** The virtual clock a delay uses (`host.hv.scheduler` fits). */
export interface DelayScheduler {
  readonly now: number;
  at(at: number, run: () => void): { cancel(): void };
}

export interface FaultyStorageOptions {
  /** Seed of the rate and delay draws. Default 1. */
  readonly seed?: number;
  /** Operation numbers (1-based, over the counted ops) that fail with EIO. */
  readonly failAt?: number | readonly number[];
  /** Probability in [0, 1] that any other counted operation fails with EIO. Default 0. */
  readonly failRate?: number;
  /** Which operations count and may fail. Default all four. */
  readonly ops?: readonly StorageOp[];
  /** Delay of every operation, in virtual ns: a fixed value or a seeded uniform [min, max]. Needs `scheduler`. */
  readonly delayNs?: number | { readonly min: number; readonly max: number };
  /** The host's scheduler, for delays. */
  readonly scheduler?: DelayScheduler;
  /** `close()` closes the wrapped storage too. Default false. */
  readonly owns?: boolean;
}

/** What a {@link FaultyStorage} did so far. */
export interface FaultyStorageStats {
  /** Counted operations started. */
  ops: number;
  /** Operations failed by injection, by number. */
  readonly failed: number[];
  /** Total virtual delay added, ns. */
  delayedNs: number;
}

/** See the file header. */
export class FaultyStorage extends WrappedStorage {
  readonly #rng: Rng;
  readonly #failAt: ReadonlySet<number>;
  readonly #rate: number;
  readonly #ops: ReadonlySet<StorageOp>;
  readonly #delay: { min: number; max: number } | undefined;
  readonly #sched: DelayScheduler | undefined;
  #enabled = true;
  /** What was injected; see {@link FaultyStorageStats}. */
  readonly stats: FaultyStorageStats = { ops: 0, failed: [], delayedNs: 0 };

  /** @throws RangeError for a bad option (a rate outside [0, 1], a delay without a scheduler). */
  constructor(base: Storage, opts: FaultyStorageOptions = {}) {
    super(base, opts.owns ?? false);
    this.#rng = new Rng(opts.seed ?? 1);
    const at =
      opts.failAt === undefined
        ? []
        : typeof opts.failAt === "number"
          ? [opts.failAt]
          : opts.failAt;
    if (at.some((n) => !Number.isInteger(n) || n < 1))
      throw new RangeError(`failAt must be positive integers, got ${JSON.stringify(opts.failAt)}`);
    this.#failAt = new Set(at);
    this.#rate = opts.failRate ?? 0;
    if (!(this.#rate >= 0 && this.#rate <= 1))
      throw new RangeError(`failRate must be in [0, 1], got ${this.#rate}`);
    this.#ops = new Set(opts.ops ?? ["read", "write", "flush", "discard"]);
    const d = opts.delayNs;
    this.#delay =
      d === undefined
        ? undefined
        : typeof d === "number"
          ? { min: d, max: d }
          : { min: d.min, max: d.max };
    if (
      this.#delay &&
      !(
        Number.isInteger(this.#delay.min) &&
        this.#delay.min >= 0 &&
        this.#delay.max >= this.#delay.min &&
        Number.isInteger(this.#delay.max)
      )
    ) {
      throw new RangeError(
        `delayNs must be integers with 0 <= min <= max, got ${JSON.stringify(d)}`,
      );
    }
    if (this.#delay && opts.scheduler === undefined)
      throw new RangeError("delayNs needs a scheduler (host.hv.scheduler)");
    this.#sched = opts.scheduler;
  }

  /** Stops injecting (no more errors or delays); the counters stay. */
  heal(): void {
    this.#enabled = false;
  }

  override read(offset: number, into: Uint8Array): Promise<void> {
    return this.#run("read", () => this.base.read(offset, into));
  }
  override write(offset: number, data: Uint8Array): Promise<void> {
    return this.#run("write", () => this.base.write(offset, data));
  }
  override flush(): Promise<void> {
    return this.#run("flush", () => this.base.flush());
  }
  override discard(offset: number, length: number, secure: boolean): Promise<void> {
    return this.#run("discard", () => this.base.discard(offset, length, secure));
  }

  async #run(op: StorageOp, go: () => Promise<void>): Promise<void> {
    if (!this.#enabled || !this.#ops.has(op)) return go();
    const n = ++this.stats.ops;
    // Draw both every time, so one operation's outcome does not shift the next one's.
    const roll = this.#rng.nextU32() / 0x1_0000_0000;
    const d = this.#delay;
    const delay = d === undefined ? 0 : d.min + this.#rng.below(d.max - d.min + 1);
    if (delay > 0) {
      const s = this.#sched!;
      this.stats.delayedNs += delay;
      await new Promise<void>((r) => void s.at(s.now + delay, r));
    }
    if (this.#failAt.has(n) || roll < this.#rate) {
      this.stats.failed.push(n);
      throw new StorageError("EIO", `injected I/O error on ${op} #${n} (FaultyStorage)`);
    }
    return go();
  }
}
