/**
 * What a guest holds to touch a 4 KiB page: a bounds-checked little-endian view that can die.
 * Views onto foreign (granted) frames die when the mapping is unmapped; using a dead view throws.
 * Read-only mappings give a `ReadonlyPage` whose type has no setters and whose writes throw.
 */
import { XEN_PAGE_SIZE } from "../abi/xen.js";
import type { Frame } from "./frame.js";

/** Thrown on any use of a page view after its mapping was removed. */
export class DeadMappingError extends Error {
  override readonly name = "DeadMappingError";
  readonly code = "EDEADMAPPING";
}

/** Thrown on a write through a read-only mapping. */
export class ReadOnlyMappingError extends Error {
  override readonly name = "ReadOnlyMappingError";
  readonly code = "EROFS";
}

/** Read access to a 4 KiB page. All offsets are in bytes; all values little-endian. */
export interface ReadonlyPage {
  /** False for read-only views. */
  readonly writable: boolean;
  /** False once the mapping behind this view is gone. */
  readonly alive: boolean;
  /** The machine frame number behind the view. */
  readonly mfn: number;
  getU8(offset: number): number;
  getU16(offset: number): number;
  getU32(offset: number): number;
  /** Reads a u64; throws RangeError above 2^53. */
  getU64(offset: number): number;
  /** A private copy of `length` bytes at `offset` (copy-then-validate: never a live alias). */
  read(offset: number, length: number): Uint8Array;
  /** Copies `length` bytes at `offset` into `dest` at `destOffset`. */
  readInto(offset: number, dest: Uint8Array, destOffset?: number, length?: number): void;
}

/** Read-write access to a 4 KiB page. */
export interface Page extends ReadonlyPage {
  readonly writable: true;
  setU8(offset: number, value: number): void;
  setU16(offset: number, value: number): void;
  setU32(offset: number, value: number): void;
  setU64(offset: number, value: number): void;
  /** Copies `src` into the page at `offset`. */
  write(offset: number, src: Uint8Array): void;
  /** Fills `length` bytes at `offset` with `value` (default: the rest of the page with 0). */
  fill(value: number, offset?: number, length?: number): void;
}

function checkRange(offset: number, length: number): void {
  if (!(offset >= 0 && length >= 0 && offset + length <= XEN_PAGE_SIZE) || !Number.isInteger(offset)) {
    throw new RangeError(`page access [${offset}, ${offset + length}) runs outside 0..${XEN_PAGE_SIZE}`);
  }
}

/**
 * Copies up to which `readInto` copies byte by byte instead of through `subarray()` + `set()`:
 * below this the subarray's allocation costs more than the bytes (an 8-byte ring response is
 * copied out once per request). For larger copies (a 112-byte entry) a byte loop was measured
 * slower than subarray + set.
 */
const SMALL_COPY = 16;

/**
 * Copies up to which `readInto` moves 8-byte words when offsets and length are multiples of 8:
 * a 112-byte ring entry copied into a consumer's private slab is 14 moves, cheaper than the
 * `subarray()` allocation + `set()` call (node 20). Beyond this `set()` (memcpy) wins.
 */
const WORD_COPY = 512;

/**
 * The destination `readInto` last copied words into, with its buffer and Float64Array/Int32Array
 * views over it (f64 undefined when it cannot have them: a byte offset that is not a multiple of
 * 8, or a resizable/growable buffer, whose length-tracking views could shrink under fixed-length
 * word views). A consumer copies entry after entry into the same private slab, so this one-entry
 * cache makes the views once per slab instead of once per copy. It holds on to one buffer.
 */
const wordDest = {
  bytes: undefined as Uint8Array | undefined,
  buffer: undefined as ArrayBufferLike | undefined,
  f64: undefined as Float64Array | undefined,
  i32: new Int32Array(0),
};

/** Points `wordDest` at `dest` (see there). */
function cacheWordDest(dest: Uint8Array): void {
  const buf = dest.buffer as ArrayBuffer & { resizable?: boolean; growable?: boolean };
  const ok = (dest.byteOffset & 7) === 0 && buf.resizable !== true && buf.growable !== true;
  wordDest.bytes = dest;
  wordDest.buffer = buf;
  wordDest.f64 = ok ? new Float64Array(buf, dest.byteOffset, dest.length >>> 3) : undefined;
  wordDest.i32 = ok ? new Int32Array(buf, dest.byteOffset, (dest.length >>> 3) * 2) : new Int32Array(0);
}

/**
 * Copies `n` 8-byte words from word `s` of `frame` to word `d` of `wordDest`. A double that is
 * not NaN is stored back bit for bit; a NaN's payload may be canonicalised by the engine (the
 * spec allows it), so NaN words go as two i32 halves and every byte arrives unchanged.
 */
function copyWords(frame: Frame, s: number, d: number, n: number): void {
  const from = frame.f64;
  const to = wordDest.f64!;
  for (let i = 0; i < n; i++) {
    const v = from[s + i]!;
    if (v === v) to[d + i] = v;
    else {
      wordDest.i32[2 * (d + i)] = frame.i32[2 * (s + i)]!;
      wordDest.i32[2 * (d + i) + 1] = frame.i32[2 * (s + i) + 1]!;
    }
  }
}

/**
 * Fills up to which `fill` uses a store loop instead of `TypedArray#fill`, whose fixed cost
 * dominates at entry sizes (a ring producer zeroes each 8–112-byte slot before encoding into it).
 */
const SMALL_FILL = 256;

/**
 * `fill` of a short range (checked by the caller). Zero, the usual value, is stored eight bytes
 * at a time (+0.0 is eight zero bytes; in the SDK echo profile this took a third of the time of
 * big-endian u32 stores, and of `TypedArray#fill`); other values four bytes at a time (the
 * repeated byte reads the same in either byte order); then the tail byte by byte.
 */
function fillSmall(dv: DataView, value: number, offset: number, length: number): void {
  let i = 0;
  if (value === 0) {
    for (; i + 8 <= length; i += 8) dv.setFloat64(offset + i, 0);
  } else {
    const word = value * 0x01010101;
    for (; i + 4 <= length; i += 4) dv.setUint32(offset + i, word, true);
  }
  for (; i < length; i++) dv.setUint8(offset + i, value);
}

/** The one implementation behind Page and ReadonlyPage. */
export class PageView implements Page {
  #frame: Frame | undefined;
  readonly #writable: boolean;
  readonly #what: string;

  constructor(frame: Frame, writable: boolean, what: string) {
    this.#frame = frame;
    this.#writable = writable;
    this.#what = what;
  }

  get writable(): true {
    return this.#writable as true;
  }
  get alive(): boolean {
    return this.#frame !== undefined;
  }
  get mfn(): number {
    return this.#live().mfn;
  }

  /** Ends this view: every later use throws DeadMappingError. Idempotent. */
  kill(): void {
    this.#frame = undefined;
  }

  #live(): Frame {
    const f = this.#frame;
    if (f === undefined) throw new DeadMappingError(`${this.#what}: the mapping behind this page is gone`);
    return f;
  }
  #w(): Frame {
    const f = this.#live();
    if (!this.#writable) throw new ReadOnlyMappingError(`${this.#what}: write through a read-only mapping`);
    return f;
  }

  getU8(offset: number): number {
    checkRange(offset, 1);
    return this.#live().dv.getUint8(offset);
  }
  getU16(offset: number): number {
    checkRange(offset, 2);
    return this.#live().dv.getUint16(offset, true);
  }
  getU32(offset: number): number {
    checkRange(offset, 4);
    return this.#live().dv.getUint32(offset, true);
  }
  getU64(offset: number): number {
    checkRange(offset, 8);
    const v = this.#live().dv.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`u64 at ${offset} exceeds 2^53`);
    return Number(v);
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length);
    return this.#live().bytes.slice(offset, offset + length);
  }
  readInto(offset: number, dest: Uint8Array, destOffset = 0, length = dest.length - destOffset): void {
    checkRange(offset, length);
    if (!(destOffset >= 0 && destOffset + length <= dest.length)) {
      throw new RangeError(`readInto: [${destOffset}, ${destOffset + length}) runs outside the destination (${dest.length})`);
    }
    const frame = this.#live();
    const src = frame.bytes;
    if (length <= SMALL_COPY) {
      for (let i = 0; i < length; i++) dest[destOffset + i] = src[offset + i]!;
    } else if (length <= WORD_COPY && ((offset | destOffset | length) & 7) === 0) {
      // Word-at-a-time (see WORD_COPY). A destination in the frame's own buffer (an overlapping
      // copy) keeps set()'s memmove semantics. Bounds were checked above in bytes.
      if (dest !== wordDest.bytes) cacheWordDest(dest);
      if (wordDest.f64 !== undefined && wordDest.buffer !== frame.buffer) copyWords(frame, offset >>> 3, destOffset >>> 3, length >>> 3);
      else dest.set(src.subarray(offset, offset + length), destOffset);
    } else {
      dest.set(src.subarray(offset, offset + length), destOffset);
    }
  }
  setU8(offset: number, value: number): void {
    checkRange(offset, 1);
    checkValue(value, 0xff);
    this.#w().dv.setUint8(offset, value);
  }
  setU16(offset: number, value: number): void {
    checkRange(offset, 2);
    checkValue(value, 0xffff);
    this.#w().dv.setUint16(offset, value, true);
  }
  setU32(offset: number, value: number): void {
    checkRange(offset, 4);
    checkValue(value, 0xffffffff);
    this.#w().dv.setUint32(offset, value, true);
  }
  setU64(offset: number, value: number): void {
    checkRange(offset, 8);
    checkValue(value, Number.MAX_SAFE_INTEGER);
    this.#w().dv.setBigUint64(offset, BigInt(value), true);
  }
  write(offset: number, src: Uint8Array): void {
    checkRange(offset, src.length);
    this.#w().bytes.set(src, offset);
  }
  fill(value: number, offset = 0, length = XEN_PAGE_SIZE - offset): void {
    checkRange(offset, length);
    checkValue(value, 0xff);
    const f = this.#w();
    if (length <= SMALL_FILL) fillSmall(f.dv, value, offset, length);
    else f.bytes.fill(value, offset, offset + length);
  }
}

function checkValue(value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`value ${value} does not fit (max ${max})`);
  }
}
