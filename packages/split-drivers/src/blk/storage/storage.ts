/**
 * The storage a blkback serves: a byte-addressed disk of `sectors` logical sectors of
 * `sectorSize` bytes (512 or 4096), read-only or not, with flush and (optionally) discard.
 * What Linux blkback gets from the block layer (`bdev_logical_block_size`, `vbd_sz`,
 * `submit_bio`, `blkdev_issue_discard`), as promises.
 *
 * Offsets and lengths are in bytes and must be multiples of `sectorSize` inside the disk; a
 * storage checks this itself (`checkStorageRange`), so a bug above it is a typed error, never
 * silently wrong data. blkback has already refused such requests with `BLKIF_RSP_ERROR`.
 */

import type { Page, ReadonlyPage } from "@pvkit/hypervisor-sim";

/**
 * Why a storage operation failed: the errno a Linux block device fails a bio with (blkback
 * answers EOPNOTSUPP for "EOPNOTSUPP", ERROR otherwise), or pvkit's closed-handle code
 * ERR_CLOSED for a storage used after `close()` (docs/errors.md).
 */
export type StorageErrorCode = "EROFS" | "EINVAL" | "ERANGE" | "EOPNOTSUPP" | "EIO" | "ERR_CLOSED";

/** A failed storage operation. */
export class StorageError extends Error {
  override readonly name = "StorageError";
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: ErrorOptions) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** Logical sector sizes a storage may have (bytes). */
export type StorageSectorSize = 512 | 4096;

/** A disk. See the file header. */
export interface Storage {
  /** Logical sector size in bytes: the backend's `sector-size`. */
  readonly sectorSize: StorageSectorSize;
  /** Physical sector size in bytes, a multiple of `sectorSize`: `physical-sector-size`. */
  readonly physicalSectorSize: number;
  /** Size in logical sectors (`sectorSize` units). May grow or shrink (resize). */
  readonly sectors: number;
  /** Writes and discards are refused with EROFS. */
  readonly readOnly: boolean;
  /** Whether `discard` does anything (the backend offers `feature-discard`). */
  readonly discardable: boolean;
  /** Whether `discard` honours `secure` (`discard-secure`). */
  readonly secureDiscard: boolean;
  /** Fills `into` with the bytes at `offset`. @throws StorageError */
  read(offset: number, into: Uint8Array): Promise<void>;
  /** Writes `data` at `offset`. @throws StorageError EROFS, EINVAL, ERANGE, EIO */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes completed writes durable (a cache flush). @throws StorageError */
  flush(): Promise<void>;
  /**
   * Forgets `length` bytes at `offset`: they read back as zeros afterwards (every storage here
   * zeroes, so a discarded range never shows old data).
   * @throws StorageError EOPNOTSUPP when not `discardable` (or `secure` without `secureDiscard`).
   */
  discard(offset: number, length: number, secure: boolean): Promise<void>;
  /** Releases what the storage holds (a file handle). Idempotent. */
  close(): Promise<void>;
  /**
   * Optional synchronous fast path for a storage whose bytes live in this process (memory):
   * the disk bytes from `offset` on are copied straight into `spans[0..count)` in order — no
   * bounce buffer, no promise. The same checks, errors (thrown) and counters as one `read` of
   * the spans' total length; nothing is copied when a check fails. blkback uses it for reads
   * and writes when present (and `read` / `write` otherwise, e.g. for a file).
   * @throws StorageError
   */
  readToPages?(offset: number, spans: readonly PageSpan[], count: number): void;
  /** The write counterpart of `readToPages`: the spans' bytes, in order, to the disk at `offset`. @throws StorageError */
  writeFromPages?(offset: number, spans: readonly PageSpan[], count: number): void;
}

/** `length` bytes at `offset` of a mapped page (one blkif segment). Mutable: blkback reuses them. */
export interface PageSpan {
  page: Page | ReadonlyPage;
  offset: number;
  length: number;
}

/** Takes a clock hold while real I/O is in flight (`host.hv.scheduler.hold`). */
export type ClockHolder = (reason: string) => { release(): void };

/** Size in bytes. */
export function storageBytes(s: Pick<Storage, "sectors" | "sectorSize">): number {
  return s.sectors * s.sectorSize;
}

/**
 * Checks that `[offset, offset + length)` is sector-aligned and inside a disk of `bytes`.
 * @throws StorageError EINVAL (not integers, negative, misaligned), ERANGE (past the end).
 */
export function checkStorageRange(
  what: string,
  offset: number,
  length: number,
  sectorSize: number,
  bytes: number,
): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new StorageError("EINVAL", `${what} [${offset}, +${length}) is not a byte range`);
  }
  if (offset % sectorSize !== 0 || length % sectorSize !== 0) {
    throw new StorageError(
      "EINVAL",
      `${what} [${offset}, +${length}) is not aligned to ${sectorSize}-byte sectors`,
    );
  }
  if (offset + length > bytes)
    throw new StorageError(
      "ERANGE",
      `${what} [${offset}, ${offset + length}) runs past the end (${bytes} bytes)`,
    );
}

/** Checks a sector size. @throws RangeError */
export function checkSectorSize(sectorSize: number, physical: number): void {
  if (sectorSize !== 512 && sectorSize !== 4096)
    throw new RangeError(`sector size ${sectorSize} is not 512 or 4096`);
  if (!Number.isInteger(physical) || physical < sectorSize || physical % sectorSize !== 0) {
    throw new RangeError(`physical sector size ${physical} is not a multiple of ${sectorSize}`);
  }
}
