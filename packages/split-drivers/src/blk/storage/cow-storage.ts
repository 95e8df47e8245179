/**
 * Copy-on-write over a read-only base: reads come from the overlay for sectors written (or
 * discarded) since, from the base otherwise; writes go to the overlay only, so the base — a
 * fixture image, say — is never modified. The overlay is a memory disk by default, or any
 * storage of the same size and sector size (a side file: `FileStorage.open(side, { create })`).
 *
 * Which sectors the overlay holds is kept in memory (one bit per logical sector), so a side
 * file is scratch space for one run, not a reusable image format.
 */
import { MemoryStorage } from "./memory-storage.js";
import {
  type StorageSectorSize,
  type Storage,
  checkStorageRange,
  storageBytes,
} from "./storage.js";

/** Options of {@link CowStorage}. */
export interface CowStorageOptions {
  /** Where writes go. Default: a new MemoryStorage of the base's size and sector size. */
  readonly overlay?: Storage;
  /** Close the base with `close()`. Default false. */
  readonly ownsBase?: boolean;
}

/** See the file header. */
export class CowStorage implements Storage {
  readonly readOnly = false;
  readonly discardable = true;
  readonly secureDiscard = true;
  readonly #base: Storage;
  readonly #overlay: Storage;
  readonly #ownsBase: boolean;
  /** Bit per logical sector: 1 = the overlay holds it. */
  readonly #dirty: Uint8Array;
  readonly #sectors: number;

  /** @throws RangeError when the overlay's geometry differs from the base's. */
  constructor(base: Storage, opts: CowStorageOptions = {}) {
    this.#base = base;
    this.#sectors = base.sectors;
    this.#overlay =
      opts.overlay ??
      new MemoryStorage({
        bytes: storageBytes(base),
        sectorSize: base.sectorSize,
        physicalSectorSize: base.physicalSectorSize,
      });
    if (
      this.#overlay.sectorSize !== base.sectorSize ||
      this.#overlay.sectors < base.sectors ||
      this.#overlay.readOnly
    ) {
      throw new RangeError(
        `overlay (${this.#overlay.sectors} × ${this.#overlay.sectorSize}${this.#overlay.readOnly ? ", read-only" : ""}) does not fit the base (${base.sectors} × ${base.sectorSize})`,
      );
    }
    this.#ownsBase = opts.ownsBase ?? false;
    this.#dirty = new Uint8Array(Math.ceil(this.#sectors / 8));
  }

  get sectorSize(): StorageSectorSize {
    return this.#base.sectorSize;
  }
  get physicalSectorSize(): number {
    return this.#base.physicalSectorSize;
  }
  get sectors(): number {
    return this.#sectors;
  }

  /** Logical sectors held by the overlay. */
  get overlaySectors(): number {
    let n = 0;
    for (let s = 0; s < this.#sectors; s++) n += this.#isDirty(s) ? 1 : 0;
    return n;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.#check("read", offset, into.length);
    const ss = this.sectorSize;
    const first = offset / ss;
    const count = into.length / ss;
    // Runs of sectors from the same side, read in one call each.
    let s = 0;
    const reads: Promise<void>[] = [];
    while (s < count) {
      const dirty = this.#isDirty(first + s);
      let e = s + 1;
      while (e < count && this.#isDirty(first + e) === dirty) e++;
      const part = into.subarray(s * ss, e * ss);
      reads.push((dirty ? this.#overlay : this.#base).read((first + s) * ss, part));
      s = e;
    }
    await Promise.all(reads);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#check("write", offset, data.length);
    await this.#overlay.write(offset, data);
    this.#mark(offset, data.length);
  }

  flush(): Promise<void> {
    return this.#overlay.flush();
  }

  async discard(offset: number, length: number, _secure = false): Promise<void> {
    this.#check("discard", offset, length);
    // The discarded range reads as zeros from now on, whatever the base holds.
    if (this.#overlay.discardable) await this.#overlay.discard(offset, length, false);
    else {
      const zeros = new Uint8Array(Math.min(length, 1 << 20));
      for (let done = 0; done < length; done += zeros.length)
        await this.#overlay.write(
          offset + done,
          zeros.subarray(0, Math.min(zeros.length, length - done)),
        );
    }
    this.#mark(offset, length);
  }

  async close(): Promise<void> {
    await this.#overlay.close();
    if (this.#ownsBase) await this.#base.close();
  }

  #check(what: string, offset: number, length: number): void {
    checkStorageRange(what, offset, length, this.sectorSize, this.#sectors * this.sectorSize);
  }

  #isDirty(s: number): boolean {
    return (this.#dirty[s >>> 3]! & (1 << (s & 7))) !== 0;
  }

  #mark(offset: number, length: number): void {
    const ss = this.sectorSize;
    for (let s = offset / ss, end = (offset + length) / ss; s < end; s++)
      this.#dirty[s >>> 3] = (this.#dirty[s >>> 3] ?? 0) | (1 << (s & 7));
  }
}
