/**
 * The base of storages that sit on another one (read-only, fault injection, a test's gate):
 * the geometry and every operation pass through to `base` unless a subclass overrides them.
 * The page fast paths (`readToPages` / `writeFromPages`) are deliberately not forwarded, so
 * every I/O reaches the wrapper's own `read` / `write`.
 */
import type { Storage, StorageSectorSize } from "./storage.js";

export abstract class WrappedStorage implements Storage {
  protected readonly base: Storage;
  readonly #owns: boolean;

  /** @param owns `close()` also closes `base`. */
  constructor(base: Storage, owns: boolean) {
    this.base = base;
    this.#owns = owns;
  }

  get sectorSize(): StorageSectorSize {
    return this.base.sectorSize;
  }
  get physicalSectorSize(): number {
    return this.base.physicalSectorSize;
  }
  get sectors(): number {
    return this.base.sectors;
  }
  get readOnly(): boolean {
    return this.base.readOnly;
  }
  get discardable(): boolean {
    return this.base.discardable;
  }
  get secureDiscard(): boolean {
    return this.base.secureDiscard;
  }

  read(offset: number, into: Uint8Array): Promise<void> {
    return this.base.read(offset, into);
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.base.write(offset, data);
  }
  flush(): Promise<void> {
    return this.base.flush();
  }
  discard(offset: number, length: number, secure: boolean): Promise<void> {
    return this.base.discard(offset, length, secure);
  }
  close(): Promise<void> {
    return this.#owns ? this.base.close() : Promise.resolve();
  }
}
