/**
 * How a driver describes its ring protocol: one codec per direction, each mapping a TypeScript
 * value to the bytes of the C struct. Codecs work on a private, bounds-checked copy of one
 * entry (an `EntryReader` / `EntryWriter`), never on the shared page: a consumer copies the
 * entry out first and decodes and validates only that copy (`RING_COPY_REQUEST`, XSA-155).
 */

/**
 * Little-endian read access to one entry's private bytes. Offsets are relative to the entry.
 * The bytes are a copy no one else writes. The ring reuses that copy for its next entry, so the
 * reader is open only while the codec's `decode` and `validate` run (a lazy decoded value can
 * be validated, not kept); afterwards every read throws `ClosedEntryReaderError`. `read`
 * returns a further copy, which may be kept.
 */
export interface EntryReader {
  /** Bytes in this entry (the codec's `size`). */
  readonly size: number;
  getU8(offset: number): number;
  getU16(offset: number): number;
  getU32(offset: number): number;
  /** @throws RangeError above 2^53. */
  getU64(offset: number): number;
  getS8(offset: number): number;
  getS16(offset: number): number;
  getS32(offset: number): number;
  /** A copy of `length` bytes at `offset`. */
  read(offset: number, length: number): Uint8Array;
}

/** Little-endian write access to one entry's private bytes (zeroed before `encode` runs). */
export interface EntryWriter extends EntryReader {
  setU8(offset: number, value: number): void;
  setU16(offset: number, value: number): void;
  setU32(offset: number, value: number): void;
  setU64(offset: number, value: number): void;
  setS8(offset: number, value: number): void;
  setS16(offset: number, value: number): void;
  setS32(offset: number, value: number): void;
  write(offset: number, src: Uint8Array): void;
}

/** One direction of a ring protocol: the C struct's size and its (de)serialisation. */
export interface RingCodec<T> {
  /** `sizeof` the C struct in bytes (tail padding included), e.g. 112 for `blkif_request`. */
  readonly size: number;
  /** Writes `value` into a zeroed entry of `size` bytes. Throws RangeError for a value that does not fit. */
  encode(value: T, out: EntryWriter): void;
  /**
   * Reads a value from the private copy of an entry. May throw: the ring reports it as an
   * invalid entry. `input` is valid until `decode` and `validate` return: keep values, not it.
   */
  decode(input: EntryReader): T;
  /**
   * Checks a decoded value; returns an explanation when it is invalid. It runs on the value
   * decoded from the private copy, so the peer cannot change what was validated.
   */
  validate?(value: T): string | undefined;
}

/**
 * A ring protocol: what `DEFINE_RING_TYPES(name, req_t, rsp_t)` declares in C.
 * The entry (`union name_sring_entry`) is `max(request.size, response.size)` bytes unless
 * `entrySize` says otherwise (give it when C alignment pads the union beyond the larger struct).
 */
export interface RingSpec<Req, Rsp> {
  readonly request: RingCodec<Req>;
  readonly response: RingCodec<Rsp>;
  /** `sizeof(union name_sring_entry)`; must be at least both struct sizes. */
  readonly entrySize?: number;
  /**
   * A short name for a request, for traces and tooling only (a request lifetime's slice name,
   * e.g. blkif's operation "READ"); never called on the data path. Must not throw.
   */
  requestLabel?(req: Req): string | undefined;
}

/** `sizeof(union name_sring_entry)` for a spec. @throws RangeError for inconsistent sizes. */
export function ringEntrySize(spec: RingSpec<unknown, unknown>): number {
  const { request, response } = spec;
  for (const [what, size] of [
    ["request", request.size],
    ["response", response.size],
  ] as const) {
    if (!Number.isInteger(size) || size <= 0)
      throw new RangeError(`${what} codec size ${size} must be a positive integer`);
  }
  const union = Math.max(request.size, response.size);
  const entry = spec.entrySize ?? union;
  if (!Number.isInteger(entry) || entry < union) {
    throw new RangeError(`entrySize ${entry} is smaller than the larger struct (${union} bytes)`);
  }
  return entry;
}

/** @internal Throws RangeError unless `[offset, offset + length)` lies inside `0..size`. */
export function checkRange(size: number, offset: number, length: number): void {
  // The throw is out of line so that this check, run on every field access, stays small enough
  // to inline; comparisons first (NaN fails them), then Math.floor as the integer test.
  if (!(offset >= 0 && length >= 0 && offset + length <= size) || Math.floor(offset) !== offset)
    outside(size, offset, length);
}

function outside(size: number, offset: number, length: number): never {
  throw new RangeError(`entry access [${offset}, ${offset + length}) runs outside 0..${size}`);
}

/** @internal Throws RangeError unless `value` is an integer in `[min, max]`. */
export function checkValue(value: number, min: number, max: number): void {
  if (!(value >= min && value <= max) || Math.floor(value) !== value) doesNotFit(value, min, max);
}

function doesNotFit(value: number, min: number, max: number): never {
  throw new RangeError(`value ${value} does not fit [${min}, ${max}]`);
}

/**
 * A private buffer behind `EntryReader` / `EntryWriter`. A ring end encodes into one such
 * buffer, reused for every entry it produces (zeroed before each `encode`), so a codec must not
 * keep the writer after `encode` returns.
 */
export class EntryBuffer implements EntryWriter {
  readonly #bytes: Uint8Array;
  readonly #dv: DataView;
  /** Bytes in this entry. */
  readonly size: number;

  /** Wraps `bytes` (not copied: the caller hands over a private buffer). */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.size = bytes.length;
  }

  /** The underlying bytes (the ring's private copy). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  getU8(offset: number): number {
    checkRange(this.size, offset, 1);
    return this.#dv.getUint8(offset);
  }
  getU16(offset: number): number {
    checkRange(this.size, offset, 2);
    return this.#dv.getUint16(offset, true);
  }
  getU32(offset: number): number {
    checkRange(this.size, offset, 4);
    return this.#dv.getUint32(offset, true);
  }
  getU64(offset: number): number {
    checkRange(this.size, offset, 8);
    const v = this.#dv.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`u64 at +${offset} exceeds 2^53`);
    return Number(v);
  }
  getS8(offset: number): number {
    checkRange(this.size, offset, 1);
    return this.#dv.getInt8(offset);
  }
  getS16(offset: number): number {
    checkRange(this.size, offset, 2);
    return this.#dv.getInt16(offset, true);
  }
  getS32(offset: number): number {
    checkRange(this.size, offset, 4);
    return this.#dv.getInt32(offset, true);
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(this.size, offset, length);
    return this.#bytes.slice(offset, offset + length);
  }
  setU8(offset: number, value: number): void {
    checkRange(this.size, offset, 1);
    checkValue(value, 0, 0xff);
    this.#dv.setUint8(offset, value);
  }
  setU16(offset: number, value: number): void {
    checkRange(this.size, offset, 2);
    checkValue(value, 0, 0xffff);
    this.#dv.setUint16(offset, value, true);
  }
  setU32(offset: number, value: number): void {
    checkRange(this.size, offset, 4);
    checkValue(value, 0, 0xffffffff);
    this.#dv.setUint32(offset, value, true);
  }
  setU64(offset: number, value: number): void {
    checkRange(this.size, offset, 8);
    checkValue(value, 0, Number.MAX_SAFE_INTEGER);
    this.#dv.setBigUint64(offset, BigInt(value), true);
  }
  setS8(offset: number, value: number): void {
    checkRange(this.size, offset, 1);
    checkValue(value, -0x80, 0x7f);
    this.#dv.setInt8(offset, value);
  }
  setS16(offset: number, value: number): void {
    checkRange(this.size, offset, 2);
    checkValue(value, -0x8000, 0x7fff);
    this.#dv.setInt16(offset, value, true);
  }
  setS32(offset: number, value: number): void {
    checkRange(this.size, offset, 4);
    checkValue(value, -0x80000000, 0x7fffffff);
    this.#dv.setInt32(offset, value, true);
  }
  write(offset: number, src: Uint8Array): void {
    checkRange(this.size, offset, src.length);
    this.#bytes.set(src, offset);
  }
}
