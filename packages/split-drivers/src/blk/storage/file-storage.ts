/**
 * A raw image file as a disk: real asynchronous I/O through a `fs/promises` FileHandle (never
 * a synchronous call on the event loop), sparse when created (`truncate` to the size, nothing
 * written). Each operation takes a clock hold while it is in flight (`holdClock`, normally
 * `host.hv.scheduler.hold`), so virtual time stands still until the bytes are there.
 *
 * The disk is `floor(file size / sectorSize)` sectors, read when opened (and by `refreshSize`).
 * Discard writes zeros (Node has no hole punching), so it is off unless asked for.
 */
import { type FileHandle, open } from "node:fs/promises";
import {
  type ClockHolder,
  StorageError,
  type StorageSectorSize,
  type Storage,
  checkSectorSize,
  checkStorageRange,
} from "./storage.js";

/** Options of {@link FileStorage.open}. */
export interface FileStorageOptions {
  /** Open read-only (mode `r`): writes are refused with EROFS. Default false. */
  readonly readOnly?: boolean;
  /** Default 512. */
  readonly sectorSize?: StorageSectorSize;
  /** Default `sectorSize`. */
  readonly physicalSectorSize?: number;
  /**
   * Create the file (failing if it exists) as a sparse file of `bytes`; otherwise it must exist.
   * Not with `readOnly`.
   */
  readonly create?: { readonly bytes: number };
  /** Offer discard (done by writing zeros). Default false. */
  readonly discard?: boolean;
  /** Called around each I/O: `host.hv.scheduler.hold`. Default: none. */
  readonly holdClock?: ClockHolder;
}

const ZEROS = new Uint8Array(1 << 20);

/** See the file header. Made with `FileStorage.open`. */
export class FileStorage implements Storage {
  readonly path: string;
  readonly sectorSize: StorageSectorSize;
  readonly physicalSectorSize: number;
  readonly readOnly: boolean;
  readonly discardable: boolean;
  readonly secureDiscard: boolean;
  readonly #fh: FileHandle;
  readonly #hold: ClockHolder | undefined;
  #bytes: number;
  #closed = false;
  #inflight = 0;

  private constructor(path: string, fh: FileHandle, bytes: number, opts: FileStorageOptions) {
    this.path = path;
    this.#fh = fh;
    this.sectorSize = opts.sectorSize ?? 512;
    this.physicalSectorSize = opts.physicalSectorSize ?? this.sectorSize;
    this.readOnly = opts.readOnly ?? false;
    this.discardable = (opts.discard ?? false) && !this.readOnly;
    this.secureDiscard = this.discardable;
    this.#hold = opts.holdClock;
    this.#bytes = bytes - (bytes % this.sectorSize);
  }

  /**
   * Opens (or creates) `path`.
   * @throws RangeError for bad options; the fs error (ENOENT, EEXIST, EACCES, ...) otherwise.
   */
  static async open(path: string, opts: FileStorageOptions = {}): Promise<FileStorage> {
    const sectorSize = opts.sectorSize ?? 512;
    checkSectorSize(sectorSize, opts.physicalSectorSize ?? sectorSize);
    if (opts.create !== undefined) {
      if (opts.readOnly) throw new RangeError("cannot create a read-only image");
      const b = opts.create.bytes;
      if (!Number.isSafeInteger(b) || b < 0 || b % sectorSize !== 0)
        throw new RangeError(`image size ${b} is not a multiple of ${sectorSize} bytes`);
    }
    const release = opts.holdClock?.(`opening ${path}`);
    try {
      const fh = await open(path, opts.create !== undefined ? "wx+" : opts.readOnly ? "r" : "r+");
      try {
        if (opts.create !== undefined) await fh.truncate(opts.create.bytes);
        const { size } = await fh.stat();
        return new FileStorage(path, fh, size, opts);
      } catch (e) {
        await fh.close();
        throw e;
      }
    } finally {
      release?.release();
    }
  }

  get sectors(): number {
    return this.#bytes / this.sectorSize;
  }

  /** Operations in flight now. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Re-reads the file's size (after it was grown or truncated outside). */
  async refreshSize(): Promise<number> {
    const { size } = await this.#io("stat", () => this.#fh.stat());
    this.#bytes = size - (size % this.sectorSize);
    return this.sectors;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.#check("read", offset, into.length);
    await this.#io(`reading ${into.length} bytes at ${offset} of ${this.path}`, async () => {
      let done = 0;
      while (done < into.length) {
        const { bytesRead } = await this.#fh.read(into, done, into.length - done, offset + done);
        if (bytesRead === 0) {
          into.fill(0, done); // the file shrank under us: read as a hole
          break;
        }
        done += bytesRead;
      }
    });
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#check("write", offset, data.length);
    if (this.readOnly) throw new StorageError("EROFS", `write to read-only ${this.path}`);
    await this.#io(`writing ${data.length} bytes at ${offset} of ${this.path}`, () =>
      this.#writeAll(offset, data),
    );
  }

  async flush(): Promise<void> {
    if (this.#closed) throw new StorageError("ERR_CLOSED", `flush of closed ${this.path}`);
    if (this.readOnly) return;
    await this.#io(`flushing ${this.path}`, () => this.#fh.datasync());
  }

  async discard(offset: number, length: number, secure: boolean): Promise<void> {
    this.#check("discard", offset, length);
    if (this.readOnly) throw new StorageError("EROFS", `discard on read-only ${this.path}`);
    if (!this.discardable || (secure && !this.secureDiscard))
      throw new StorageError("EOPNOTSUPP", `discard is not enabled on ${this.path}`);
    await this.#io(`discarding ${length} bytes at ${offset} of ${this.path}`, async () => {
      for (let done = 0; done < length; done += ZEROS.length)
        await this.#writeAll(
          offset + done,
          ZEROS.subarray(0, Math.min(ZEROS.length, length - done)),
        );
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#io(`closing ${this.path}`, () => this.#fh.close());
  }

  async #writeAll(offset: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.#fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }

  #check(what: string, offset: number, length: number): void {
    if (this.#closed) throw new StorageError("ERR_CLOSED", `${what} of closed ${this.path}`);
    checkStorageRange(what, offset, length, this.sectorSize, this.#bytes);
  }

  /** Runs real I/O with the clock held; fs errors become StorageError EIO. */
  async #io<T>(reason: string, fn: () => Promise<T>): Promise<T> {
    const hold = this.#hold?.(reason);
    this.#inflight++;
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw new StorageError("EIO", `${reason}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    } finally {
      this.#inflight--;
      hold?.release();
    }
  }
}
