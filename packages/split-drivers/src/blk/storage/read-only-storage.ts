/**
 * A read-only view of another storage (the backend's `mode` = `r`): reads pass through, writes
 * and discards are refused with EROFS before they reach it, flush is a no-op. blkback refuses
 * writes to a read-only disk itself (Linux `xen_vbd_translate`); this makes sure nothing below
 * can be changed even if it did not.
 */
import { StorageError, type StorageSectorSize, type Storage } from "./storage.js";

/** See the file header. `close()` closes the wrapped storage only with `{ owns: true }`. */
export class ReadOnlyStorage implements Storage {
  readonly readOnly = true;
  readonly discardable = false;
  readonly secureDiscard = false;
  readonly #base: Storage;
  readonly #owns: boolean;

  constructor(base: Storage, opts: { owns?: boolean } = {}) {
    this.#base = base;
    this.#owns = opts.owns ?? false;
  }

  get sectorSize(): StorageSectorSize {
    return this.#base.sectorSize;
  }
  get physicalSectorSize(): number {
    return this.#base.physicalSectorSize;
  }
  get sectors(): number {
    return this.#base.sectors;
  }

  read(offset: number, into: Uint8Array): Promise<void> {
    return this.#base.read(offset, into);
  }
  write(_offset: number, _data: Uint8Array): Promise<void> {
    return Promise.reject(new StorageError("EROFS", "write to a read-only disk"));
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  discard(_offset: number, _length: number, _secure: boolean): Promise<void> {
    return Promise.reject(new StorageError("EROFS", "discard on a read-only disk"));
  }
  close(): Promise<void> {
    return this.#owns ? this.#base.close() : Promise.resolve();
  }
}
