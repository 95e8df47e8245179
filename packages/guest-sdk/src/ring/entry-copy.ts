/**
 * Where a consumer keeps its private copies of ring entries (`RING_COPY_REQUEST` /
 * `RING_COPY_RESPONSE`, XSA-155). Internal to the ring module.
 *
 * Each consumed entry is copied once out of the shared ring into its own slot of a private
 * slab, and the codec decodes and validates a read-only view of that slot. Slots are handed out
 * bump-allocator style and are never reused: when a slab is full a fresh one is allocated and
 * the old one is left to the garbage collector. So a decoded value may keep using its reader
 * (a lazy codec with getters) for as long as it likes, and no later consume can change what it
 * sees. Why slabs rather than one buffer per entry: allocating a small `Uint8Array` and
 * `DataView` per entry dominated the cost of a busy ring; a slab pays that once per
 * `SLAB_BYTES`.
 *
 * ```
 * slab (private)   | entry n | entry n+1 | entry n+2 |  ...  | (unused) |
 *                    ^ reader n (read-only, base = n's offset, size = codec.size)
 * ```
 */
import { checkRange, type EntryReader } from "./ring-codec.js";
import type { SharedRingArea } from "./shared-ring.js";

/**
 * Bytes per slab: ~290 blkif-sized entries. Allocating a typed array costs microseconds whatever
 * its size (8 KiB ≈ 1.4 µs, 32 KiB ≈ 2.4 µs on node 20), so larger slabs are cheaper per entry;
 * the price is that a retained reader keeps its whole slab alive.
 */
const SLAB_BYTES = 32768;

/** A read-only view of one private copy. Offsets are relative to the entry. */
export class PrivateEntry implements EntryReader {
  readonly #dv: DataView;
  readonly #bytes: Uint8Array;
  readonly #base: number;
  readonly size: number;

  constructor(bytes: Uint8Array, dv: DataView, base: number, size: number) {
    this.#bytes = bytes;
    this.#dv = dv;
    this.#base = base;
    this.size = size;
  }

  /** A fresh copy of the entry's bytes (for error reports, which outlive the consume). */
  snapshot(): Uint8Array {
    return this.#bytes.slice(this.#base, this.#base + this.size);
  }

  getU8(offset: number): number {
    checkRange(this.size, offset, 1);
    return this.#dv.getUint8(this.#base + offset);
  }
  getU16(offset: number): number {
    checkRange(this.size, offset, 2);
    return this.#dv.getUint16(this.#base + offset, true);
  }
  getU32(offset: number): number {
    checkRange(this.size, offset, 4);
    return this.#dv.getUint32(this.#base + offset, true);
  }
  getU64(offset: number): number {
    checkRange(this.size, offset, 8);
    const v = this.#dv.getBigUint64(this.#base + offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`u64 at +${offset} exceeds 2^53`);
    return Number(v);
  }
  getS8(offset: number): number {
    checkRange(this.size, offset, 1);
    return this.#dv.getInt8(this.#base + offset);
  }
  getS16(offset: number): number {
    checkRange(this.size, offset, 2);
    return this.#dv.getInt16(this.#base + offset, true);
  }
  getS32(offset: number): number {
    checkRange(this.size, offset, 4);
    return this.#dv.getInt32(this.#base + offset, true);
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(this.size, offset, length);
    return this.#bytes.slice(this.#base + offset, this.#base + offset + length);
  }
}

/** The private copies of one ring end, for entries of one size. */
export class EntryCopies {
  readonly #size: number;
  #slab: Uint8Array;
  #dv: DataView;
  #next = 0;

  /** @param size bytes per copy (the codec's `size`). */
  constructor(size: number) {
    this.#size = size;
    this.#slab = new Uint8Array(0);
    this.#dv = new DataView(this.#slab.buffer);
  }

  /** Bytes per copy. */
  get size(): number {
    return this.#size;
  }

  /**
   * Copies the first `size` bytes of entry `idx` of `area` into a fresh private slot (one read
   * of the shared page) and returns a read-only view of the copy.
   */
  copy(area: SharedRingArea, idx: number): PrivateEntry {
    const size = this.#size;
    if (this.#next + size > this.#slab.length) {
      this.#slab = new Uint8Array(Math.max(SLAB_BYTES, size));
      this.#dv = new DataView(this.#slab.buffer);
      this.#next = 0;
    }
    const base = this.#next;
    area.copyEntryInto(idx, size, this.#slab, base);
    this.#next = base + size;
    return new PrivateEntry(this.#slab, this.#dv, base, size);
  }
}
