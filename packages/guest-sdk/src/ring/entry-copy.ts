/**
 * Where a consumer keeps its private copy of a ring entry (`RING_COPY_REQUEST` /
 * `RING_COPY_RESPONSE`, XSA-155). Internal to the ring module.
 *
 * Each consumed entry is copied once out of the shared ring into one private buffer of the ring
 * end, and the codec decodes (and validates) a read-only reader over that buffer, exactly as a C
 * backend copies a request into a struct on its stack. The buffer and its reader are reused by
 * the next consume, so the reader is open only while `decode` and `validate` run: a codec must
 * take out what it keeps (`read()` returns a copy), just as it must not keep the writer after
 * `encode` (see `EntryBuffer`). A reader used after its consume returned throws
 * `ClosedEntryReaderError` instead of showing the bytes of a later entry.
 *
 * Why one buffer: the alternatives (a buffer per entry, or slabs of never-reused slots that a
 * lazy decoded value could keep reading) allocate on every consume, and on a busy ring that
 * allocation and its garbage cost more than the copy itself.
 *
 * ```
 * shared ring  | ... | entry idx | ... |
 *                         | copied once (each shared byte read exactly once)
 *                         v
 * private      | copy (codec.size bytes) |  <- reader: open during decode + validate only
 * ```
 */
import { ClosedError } from "@pvkit/hypervisor-sim";
import { checkRange, type EntryReader } from "./ring-codec.js";
import type { SharedRingArea } from "./shared-ring.js";

/**
 * Thrown when a codec uses an `EntryReader` after the decode it was given to has returned: a
 * `ClosedError` (`ERR_CLOSED`, op `read`).
 */
export class ClosedEntryReaderError extends ClosedError {
  override readonly name: string = "ClosedEntryReaderError";
  constructor() {
    super(
      "the EntryReader used after its decode returned (the ring reuses its private copy: copy out with read() what you keep)",
      "read",
    );
  }
}

function closed(): never {
  throw new ClosedEntryReaderError();
}

/** The read-only reader over a ring end's private copy. Offsets are relative to the entry. */
export class PrivateEntry implements EntryReader {
  readonly #dv: DataView;
  readonly #bytes: Uint8Array;
  readonly size: number;
  /** True from the copy until `close()`: while the codec decodes and validates this entry. */
  #open = false;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.size = bytes.length;
  }

  /** @internal Opens the reader over a fresh copy (`EntryCopy.copy`). */
  open(): void {
    this.#open = true;
  }

  /** @internal Ends this consume: later reads throw ClosedEntryReaderError. */
  close(): void {
    this.#open = false;
  }

  /** A fresh copy of the entry's bytes (for error reports, which outlive the consume). */
  snapshot(): Uint8Array {
    return this.#bytes.slice();
  }

  #at(offset: number, length: number): number {
    if (!this.#open) closed();
    checkRange(this.size, offset, length);
    return offset;
  }

  getU8(offset: number): number {
    return this.#dv.getUint8(this.#at(offset, 1));
  }
  getU16(offset: number): number {
    return this.#dv.getUint16(this.#at(offset, 2), true);
  }
  getU32(offset: number): number {
    return this.#dv.getUint32(this.#at(offset, 4), true);
  }
  getU64(offset: number): number {
    const v = this.#dv.getBigUint64(this.#at(offset, 8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`u64 at +${offset} exceeds 2^53`);
    return Number(v);
  }
  getS8(offset: number): number {
    return this.#dv.getInt8(this.#at(offset, 1));
  }
  getS16(offset: number): number {
    return this.#dv.getInt16(this.#at(offset, 2), true);
  }
  getS32(offset: number): number {
    return this.#dv.getInt32(this.#at(offset, 4), true);
  }
  read(offset: number, length: number): Uint8Array {
    this.#at(offset, length);
    return this.#bytes.slice(offset, offset + length);
  }
}

/** The private copy of one ring end, for entries of one size. */
export class EntryCopy {
  readonly #bytes: Uint8Array;
  /** The same buffer as 8-byte words, or undefined when the copy is not made by words. */
  readonly #words: BigInt64Array | undefined;
  readonly #reader: PrivateEntry;

  /**
   * @param size bytes per copy (the codec's `size`).
   * @param wordAligned whether the ring's entries start at multiples of 8 (then a `size` that
   *   is a multiple of 8 is copied by words, which beats a byte copy at entry sizes).
   */
  constructor(size: number, wordAligned: boolean) {
    const buffer = new ArrayBuffer(size);
    this.#bytes = new Uint8Array(buffer);
    this.#words = wordAligned && size % 8 === 0 ? new BigInt64Array(buffer) : undefined;
    this.#reader = new PrivateEntry(this.#bytes);
  }

  /** Bytes per copy. */
  get size(): number {
    return this.#bytes.length;
  }

  /**
   * Copies the first `size` bytes of entry `idx` of `area` into the private buffer (one read of
   * the shared page) and returns the reader over it, open until `reader.close()`.
   */
  copy(area: SharedRingArea, idx: number): PrivateEntry {
    const words = this.#words;
    if (words !== undefined) area.copyEntryWords(idx, words.length, words);
    else area.copyEntryInto(idx, this.#bytes.length, this.#bytes, 0);
    this.#reader.open();
    return this.#reader;
  }
}
