/**
 * A disk in memory, sparse: 64 KiB chunks are allocated on first write, so a large disk costs
 * only what was written. Unwritten and discarded bytes read as zeros. The default storage of
 * blkback. Operations complete at once (already-resolved promises).
 */
import type { Page } from "@pvkit/hypervisor-sim";
import {
  type PageSpan,
  StorageError,
  type StorageSectorSize,
  type Storage,
  checkSectorSize,
  checkStorageRange,
} from "./storage.js";

/** Bytes per allocated chunk. */
export const MEMORY_CHUNK = 64 * 1024;

/** Options of {@link MemoryStorage}. */
export interface MemoryStorageOptions {
  /** Size in bytes, a multiple of `sectorSize`. */
  readonly bytes: number;
  /** Default 512. */
  readonly sectorSize?: StorageSectorSize;
  /** Default `sectorSize`. */
  readonly physicalSectorSize?: number;
  /** Default false. */
  readonly readOnly?: boolean;
  /** Offer discard. Default true. */
  readonly discard?: boolean;
  /** Initial contents (from byte 0; at most `bytes`). */
  readonly contents?: Uint8Array;
}

/** See the file header. */
export class MemoryStorage implements Storage {
  readonly sectorSize: StorageSectorSize;
  readonly physicalSectorSize: number;
  readonly readOnly: boolean;
  readonly discardable: boolean;
  readonly secureDiscard: boolean;
  #bytes: number;
  readonly #chunks = new Map<number, Uint8Array>();
  #closed = false;
  /** Counts of operations done, for tests and benchmarks. */
  readonly stats = { reads: 0, writes: 0, flushes: 0, discards: 0 };

  /** @throws RangeError for a bad size or sector size. */
  constructor(opts: MemoryStorageOptions) {
    this.sectorSize = opts.sectorSize ?? 512;
    this.physicalSectorSize = opts.physicalSectorSize ?? this.sectorSize;
    checkSectorSize(this.sectorSize, this.physicalSectorSize);
    checkBytes(opts.bytes, this.sectorSize);
    this.#bytes = opts.bytes;
    this.readOnly = opts.readOnly ?? false;
    this.discardable = opts.discard ?? true;
    this.secureDiscard = this.discardable;
    if (opts.contents !== undefined) {
      if (opts.contents.length > opts.bytes)
        throw new RangeError(
          `contents (${opts.contents.length} bytes) exceed the disk (${opts.bytes})`,
        );
      this.#put(0, opts.contents);
    }
  }

  get sectors(): number {
    return this.#bytes / this.sectorSize;
  }

  /** Bytes of chunks allocated. */
  get allocatedBytes(): number {
    return this.#chunks.size * MEMORY_CHUNK;
  }

  /**
   * Changes the size (a resize: blkback rewrites `sectors` when told). Shrinking drops the bytes
   * beyond the new end. @throws RangeError for a bad size.
   */
  resize(bytes: number): void {
    checkBytes(bytes, this.sectorSize);
    if (bytes < this.#bytes) {
      for (const k of [...this.#chunks.keys()])
        if (k * MEMORY_CHUNK >= bytes) this.#chunks.delete(k);
      const tail = this.#chunks.get(Math.floor(bytes / MEMORY_CHUNK));
      tail?.fill(0, bytes % MEMORY_CHUNK);
    }
    this.#bytes = bytes;
  }

  read(offset: number, into: Uint8Array): Promise<void> {
    try {
      this.#check("read", offset, into.length);
      this.stats.reads++;
      this.#get(offset, into);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  write(offset: number, data: Uint8Array): Promise<void> {
    try {
      this.#check("write", offset, data.length);
      if (this.readOnly) throw new StorageError("EROFS", "write to a read-only disk");
      this.stats.writes++;
      this.#put(offset, data);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  readToPages(offset: number, spans: readonly PageSpan[], count: number): void {
    this.#check("read", offset, spansLength(spans, count));
    this.stats.reads++;
    let at = offset;
    for (let i = 0; i < count; i++) {
      const s = spans[i]!;
      const page = s.page as Page;
      let done = 0;
      while (done < s.length) {
        const k = Math.floor(at / MEMORY_CHUNK);
        const o = at - k * MEMORY_CHUNK;
        const n = Math.min(MEMORY_CHUNK - o, s.length - done);
        const c = this.#chunks.get(k);
        if (c === undefined) page.fill(0, s.offset + done, n);
        else page.write(s.offset + done, c.subarray(o, o + n));
        done += n;
        at += n;
      }
    }
  }

  writeFromPages(offset: number, spans: readonly PageSpan[], count: number): void {
    this.#check("write", offset, spansLength(spans, count));
    if (this.readOnly) throw new StorageError("EROFS", "write to a read-only disk");
    this.stats.writes++;
    let at = offset;
    for (let i = 0; i < count; i++) {
      const s = spans[i]!;
      let done = 0;
      while (done < s.length) {
        const k = Math.floor(at / MEMORY_CHUNK);
        const o = at - k * MEMORY_CHUNK;
        const n = Math.min(MEMORY_CHUNK - o, s.length - done);
        let c = this.#chunks.get(k);
        if (c === undefined) this.#chunks.set(k, (c = new Uint8Array(MEMORY_CHUNK)));
        s.page.readInto(s.offset + done, c, o, n);
        done += n;
        at += n;
      }
    }
  }

  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(new StorageError("ERR_CLOSED", "flush after close"));
    this.stats.flushes++;
    return Promise.resolve();
  }

  discard(offset: number, length: number, secure: boolean): Promise<void> {
    try {
      this.#check("discard", offset, length);
      if (this.readOnly) throw new StorageError("EROFS", "discard on a read-only disk");
      if (!this.discardable || (secure && !this.secureDiscard))
        throw new StorageError("EOPNOTSUPP", "discard is not supported");
      this.stats.discards++;
      this.#zero(offset, length);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#chunks.clear();
    return Promise.resolve();
  }

  #check(what: string, offset: number, length: number): void {
    if (this.#closed) throw new StorageError("ERR_CLOSED", `${what} after close`);
    checkStorageRange(what, offset, length, this.sectorSize, this.#bytes);
  }

  #get(offset: number, into: Uint8Array): void {
    let done = 0;
    while (done < into.length) {
      const at = offset + done;
      const k = Math.floor(at / MEMORY_CHUNK);
      const o = at - k * MEMORY_CHUNK;
      const n = Math.min(MEMORY_CHUNK - o, into.length - done);
      const c = this.#chunks.get(k);
      if (c === undefined) into.fill(0, done, done + n);
      else into.set(c.subarray(o, o + n), done);
      done += n;
    }
  }

  #put(offset: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const k = Math.floor(at / MEMORY_CHUNK);
      const o = at - k * MEMORY_CHUNK;
      const n = Math.min(MEMORY_CHUNK - o, data.length - done);
      let c = this.#chunks.get(k);
      if (c === undefined) this.#chunks.set(k, (c = new Uint8Array(MEMORY_CHUNK)));
      c.set(data.subarray(done, done + n), o);
      done += n;
    }
  }

  #zero(offset: number, length: number): void {
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const k = Math.floor(at / MEMORY_CHUNK);
      const o = at - k * MEMORY_CHUNK;
      const n = Math.min(MEMORY_CHUNK - o, length - done);
      if (o === 0 && n === MEMORY_CHUNK) this.#chunks.delete(k);
      else this.#chunks.get(k)?.fill(0, o, o + n);
      done += n;
    }
  }
}

function spansLength(spans: readonly PageSpan[], count: number): number {
  let n = 0;
  for (let i = 0; i < count; i++) n += spans[i]!.length;
  return n;
}

function checkBytes(bytes: number, sectorSize: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes % sectorSize !== 0)
    throw new RangeError(`disk size ${bytes} is not a multiple of ${sectorSize} bytes`);
}
