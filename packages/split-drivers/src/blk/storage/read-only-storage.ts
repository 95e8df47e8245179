/**
 * A read-only view of another storage (the backend's `mode` = `r`): reads pass through, writes
 * and discards are refused with EROFS before they reach it, flush is a no-op. blkback refuses
 * writes to a read-only disk itself (Linux `xen_vbd_translate`); this makes sure nothing below
 * can be changed even if it did not.
 */
import { StorageError, type Storage } from "./storage.js";
import { WrappedStorage } from "./wrapped-storage.js";

/** See the file header. `close()` closes the wrapped storage only with `{ owns: true }`. */
export class ReadOnlyStorage extends WrappedStorage {
  constructor(base: Storage, opts: { owns?: boolean } = {}) {
    super(base, opts.owns ?? false);
  }

  override get readOnly(): boolean {
    return true;
  }
  override get discardable(): boolean {
    return false;
  }
  override get secureDiscard(): boolean {
    return false;
  }

  override write(_offset: number, _data: Uint8Array): Promise<void> {
    return Promise.reject(new StorageError("EROFS", "write to a read-only disk"));
  }
  override flush(): Promise<void> {
    return Promise.resolve();
  }
  override discard(_offset: number, _length: number, _secure: boolean): Promise<void> {
    return Promise.reject(new StorageError("EROFS", "discard on a read-only disk"));
  }
}
