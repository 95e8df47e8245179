/**
 * What a guest holds to touch a 4 KiB page: a bounds-checked little-endian view that can die.
 * Views onto foreign (granted) frames die when the mapping is unmapped; using a dead view throws.
 * Read-only mappings give a `ReadonlyPage` whose type has no setters and whose writes throw.
 */
import { XEN_PAGE_SIZE } from "../abi/xen.js";
import { isU32, U32_MAX } from "../abi/struct.js";
import type { Frame } from "./frame.js";
import { PvkitError } from "../pvkit-error.js";

/** Thrown on any use of a page view after its mapping was removed (`code` ERR_DEAD_MAPPING). */
export class DeadMappingError extends PvkitError {
  override readonly name: string = "DeadMappingError";
  declare readonly code: "ERR_DEAD_MAPPING";

  /** @param message what was used, and which mapping. */
  constructor(message: string) {
    super("ERR_DEAD_MAPPING", message);
  }
}

/**
 * Thrown on a write through a read-only mapping (`code` ERR_READ_ONLY_MAPPING). Xen itself
 * would fault the guest's write (a read-only PTE), not return an errno, so this is pvkit's own.
 */
export class ReadOnlyMappingError extends PvkitError {
  override readonly name: string = "ReadOnlyMappingError";
  declare readonly code: "ERR_READ_ONLY_MAPPING";

  /** @param message what was written, through which mapping. */
  constructor(message: string) {
    super("ERR_READ_ONLY_MAPPING", message);
  }
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
  /**
   * Copies `count` 8-byte words from byte `offset` (a multiple of 8) into `dest` from element
   * `destIndex`. Words move in native byte order on both sides, so the bytes arrive unchanged.
   * For small aligned copies (a ring entry into a consumer's private buffer), where a word loop
   * beats `readInto`'s `subarray()` + `set()` (14 moves for a 112-byte entry).
   * @throws RangeError for an unaligned offset or a range outside the page or `dest`.
   */
  readWords(offset: number, dest: BigInt64Array, destIndex: number, count: number): void;
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
  if (
    !(offset >= 0 && length >= 0 && offset + length <= XEN_PAGE_SIZE) ||
    !Number.isInteger(offset)
  )
    outside(offset, length);
}

/**
 * `checkRange` for a field of `width` bytes (a constant at every call site): `offset >>> 0 ===
 * offset` holds exactly for the integers 0..2^32-1, so one comparison replaces the integer and
 * sign tests on the path every field access takes.
 */
function checkAt(offset: number, width: number): void {
  if (offset >>> 0 !== offset || offset > XEN_PAGE_SIZE - width) outside(offset, width);
}

function outside(offset: number, length: number): never {
  throw new RangeError(
    `page access [${offset}, ${offset + length}) runs outside 0..${XEN_PAGE_SIZE}`,
  );
}

/**
 * Copies up to which `readInto` copies byte by byte instead of through `subarray()` + `set()`:
 * below this the subarray's allocation costs more than the bytes. (Aligned entry-sized copies
 * have `readWords`.)
 */
const SMALL_COPY = 16;

/**
 * Fills up to which `fill` uses a store loop instead of `TypedArray#fill`, whose fixed cost
 * dominates at entry sizes (a ring producer zeroes each 8–112-byte slot before encoding into it).
 */
const SMALL_FILL = 256;

/**
 * `fill` of a short range (checked by the caller). Zeroing an 8-byte-aligned range, what a ring
 * producer does to each slot before encoding into it, stores +0.0 (eight zero bytes) through the
 * frame's Float64Array; other values go four bytes at a time (the repeated byte reads the same in
 * either byte order), then the tail byte by byte. Both beat `TypedArray#fill`, whose fixed cost
 * dominates at entry sizes.
 */
function fillSmall(frame: Frame, value: number, offset: number, length: number): void {
  if (value === 0 && ((offset | length) & 7) === 0) {
    const f64 = frame.f64;
    for (let w = offset >>> 3, end = (offset + length) >>> 3; w < end; w++) f64[w] = 0;
    return;
  }
  const dv = frame.dv;
  let i = 0;
  const word = value * 0x01010101;
  for (; i + 4 <= length; i += 4) dv.setUint32(offset + i, word, true);
  for (; i < length; i++) dv.setUint8(offset + i, value);
}

/** The one implementation behind Page and ReadonlyPage. */
export class PageView implements Page {
  /** The frame while the mapping lives; undefined once it is gone. */
  #frame: Frame | undefined;
  /** The same frame when this view may write it (undefined for read-only or dead views): one check per store. */
  #wframe: Frame | undefined;
  readonly #writable: boolean;
  // What the view is, for error messages only: kept as parts and formatted when an error is
  // thrown, so a grant map (one new view each) builds no string.
  readonly #domid: number;
  readonly #kind: string | undefined;
  readonly #gfn: number;

  /**
   * @param kind what sits at the GFN (`grant`, `xen`, ...), or undefined for the domain's RAM;
   *   with `domid` and `gfn` it names the view in errors.
   */
  constructor(
    frame: Frame,
    writable: boolean,
    domid: number,
    kind: string | undefined,
    gfn: number,
  ) {
    this.#frame = frame;
    this.#wframe = writable ? frame : undefined;
    this.#writable = writable;
    this.#domid = domid;
    this.#kind = kind;
    this.#gfn = gfn;
  }

  get #what(): string {
    const hex = this.#gfn.toString(16);
    return this.#kind === undefined
      ? `d${this.#domid} gfn ${hex}`
      : `d${this.#domid} ${this.#kind} gfn 0x${hex}`;
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
    this.#wframe = undefined;
  }

  #live(): Frame {
    const f = this.#frame;
    if (f === undefined) this.#dead();
    return f;
  }
  #w(): Frame {
    const f = this.#wframe;
    if (f === undefined) this.#cannotWrite();
    return f;
  }
  #dead(): never {
    throw new DeadMappingError(`${this.#what}: the mapping behind this page is gone`);
  }
  /** Why a store was refused: the mapping is gone, or it is read-only. */
  #cannotWrite(): never {
    if (this.#frame === undefined) this.#dead();
    throw new ReadOnlyMappingError(`${this.#what}: write through a read-only mapping`);
  }

  getU8(offset: number): number {
    checkAt(offset, 1);
    return this.#live().dv.getUint8(offset);
  }
  getU16(offset: number): number {
    checkAt(offset, 2);
    return this.#live().dv.getUint16(offset, true);
  }
  getU32(offset: number): number {
    checkAt(offset, 4);
    return this.#live().dv.getUint32(offset, true);
  }
  getU64(offset: number): number {
    checkAt(offset, 8);
    const v = this.#live().dv.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`u64 at ${offset} exceeds 2^53`);
    return Number(v);
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length);
    return this.#live().bytes.slice(offset, offset + length);
  }
  readInto(
    offset: number,
    dest: Uint8Array,
    destOffset = 0,
    length = dest.length - destOffset,
  ): void {
    checkRange(offset, length);
    if (!(destOffset >= 0 && destOffset + length <= dest.length)) {
      throw new RangeError(
        `readInto: [${destOffset}, ${destOffset + length}) runs outside the destination (${dest.length})`,
      );
    }
    const src = this.#live().bytes;
    if (length <= SMALL_COPY) {
      for (let i = 0; i < length; i++) dest[destOffset + i] = src[offset + i]!;
    } else {
      dest.set(src.subarray(offset, offset + length), destOffset);
    }
  }
  readWords(offset: number, dest: BigInt64Array, destIndex: number, count: number): void {
    if ((offset & 7) !== 0)
      throw new RangeError(`readWords: offset ${offset} is not a multiple of 8`);
    checkRange(offset, 8 * count);
    if (
      !(destIndex >= 0 && count >= 0 && destIndex + count <= dest.length) ||
      Math.floor(destIndex) !== destIndex
    ) {
      throw new RangeError(
        `readWords: [${destIndex}, ${destIndex + count}) runs outside the destination (${dest.length} words)`,
      );
    }
    // BigInt64Array moves are exact (every bit pattern) and, once optimised, unboxed: measured
    // faster than Int32Array (twice the moves) or Float64Array (NaN payloads need care).
    const from = this.#live().i64;
    const s = offset >>> 3;
    for (let i = 0; i < count; i++) dest[destIndex + i] = from[s + i]!;
  }
  setU8(offset: number, value: number): void {
    checkAt(offset, 1);
    if ((value & 0xff) !== value) doesNotFit(value, 0xff);
    this.#w().dv.setUint8(offset, value);
  }
  setU16(offset: number, value: number): void {
    checkAt(offset, 2);
    if ((value & 0xffff) !== value) doesNotFit(value, 0xffff);
    this.#w().dv.setUint16(offset, value, true);
  }
  setU32(offset: number, value: number): void {
    checkAt(offset, 4);
    if (!isU32(value)) doesNotFit(value, U32_MAX);
    this.#w().dv.setUint32(offset, value, true);
  }
  setU64(offset: number, value: number): void {
    checkAt(offset, 8);
    checkValue(value, Number.MAX_SAFE_INTEGER);
    this.#w().dv.setBigUint64(offset, BigInt(value), true);
  }
  write(offset: number, src: Uint8Array): void {
    checkRange(offset, src.length);
    this.#w().bytes.set(src, offset);
  }
  fill(value: number, offset = 0, length = XEN_PAGE_SIZE - offset): void {
    checkRange(offset, length);
    if ((value & 0xff) !== value) doesNotFit(value, 0xff);
    const f = this.#w();
    if (length <= SMALL_FILL) fillSmall(f, value, offset, length);
    else f.bytes.fill(value, offset, offset + length);
  }
}

function checkValue(value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) doesNotFit(value, max);
}

function doesNotFit(value: number, max: number): never {
  throw new RangeError(`value ${value} does not fit (max ${max})`);
}
