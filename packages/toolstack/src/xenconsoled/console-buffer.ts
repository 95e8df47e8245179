/**
 * xenconsoled's output buffer (`struct buffer` and `buffer_append` / `buffer_advance` in
 * tools/console/daemon/io.c, Xen 4.17): the bytes read from a guest's `out` ring that the
 * terminal has not taken yet. The log file and stdout get every byte as it is read; only the
 * terminal's copy is bounded.
 *
 * The bound is the console's `limit` key (`max_capacity`; libxl writes 1048576). With
 * `--overflow-data=discard` (the default), once the buffer holds more than 5/4 of the limit:
 * - if more than limit/4 bytes at the front were already written out, they are dropped
 *   (the C code moves the rest up: "the buffer is not a ring buffer");
 * - otherwise the middle is discarded: bytes [limit/2, limit) go, so the buffer keeps its
 *   first limit/2 bytes and everything from offset `limit` on (`size = limit/2 + over`).
 * With `keep`, nothing is discarded: the daemon stops reading the ring while the buffer is at
 * the limit (`buffer_available`), and the guest waits.
 *
 * Sizes follow the C integers: `5 * max / 4` and `max / 4`, `max / 2` are integer divisions.
 */

/** What `--overflow-data` selects. */
export type OverflowPolicy = "discard" | "keep";

export class ConsoleBuffer {
  /** `data[0 .. size)`, of which `[0, consumed)` was already written to the terminal. */
  #data = new Uint8Array(0);
  #size = 0;
  #consumed = 0;
  /** `max_capacity`: 0 means unbounded (no `limit` key). */
  maxCapacity: number;
  readonly policy: OverflowPolicy;
  /** Bytes dropped by the overflow rule so far. */
  discarded = 0;

  constructor(maxCapacity: number, policy: OverflowPolicy = "discard") {
    this.maxCapacity = maxCapacity;
    this.policy = policy;
  }

  /** `buffer->size - buffer->consumed`: bytes the terminal has still to take. */
  get pending(): number {
    return this.#size - this.#consumed;
  }

  /** `buffer->size` (consumed bytes included, as in C). */
  get size(): number {
    return this.#size;
  }

  /** `buffer_available`: may the daemon read the ring now? */
  get available(): boolean {
    return this.policy === "discard" || this.maxCapacity === 0 || this.#size < this.maxCapacity;
  }

  /** The bytes still to write out (a view; valid until the next append or advance). */
  view(): Uint8Array {
    return this.#data.subarray(this.#consumed, this.#size);
  }

  /** `buffer_append`'s copy and overflow rule, for bytes just read from the ring. */
  append(bytes: Uint8Array): void {
    if (this.#data.length - this.#size < bytes.length) {
      const grown = new Uint8Array(this.#data.length + bytes.length + 1024);
      grown.set(this.#data.subarray(0, this.#size));
      this.#data = grown;
    }
    this.#data.set(bytes, this.#size);
    this.#size += bytes.length;
    const max = this.maxCapacity;
    if (this.policy !== "discard" || max === 0 || this.#size <= Math.floor((5 * max) / 4)) return;
    if (this.#consumed > Math.floor(max / 4)) {
      // Move data up in the buffer, since its beginning has been output.
      this.#data.copyWithin(0, this.#consumed, this.#size);
      this.#size -= this.#consumed;
      this.#consumed = 0;
    } else {
      // Discard the middle of the data.
      const over = this.#size - max;
      const half = Math.floor(max / 2);
      this.#data.copyWithin(half, max, max + over);
      this.discarded += max - half;
      this.#size = half + over;
    }
  }

  /** `buffer_advance`: the terminal took `len` bytes. */
  advance(len: number): void {
    this.#consumed += len;
    if (this.#consumed === this.#size) {
      this.#consumed = 0;
      this.#size = 0;
      if (this.maxCapacity !== 0 && this.#data.length > this.maxCapacity)
        this.#data = new Uint8Array(this.maxCapacity);
    }
  }
}
