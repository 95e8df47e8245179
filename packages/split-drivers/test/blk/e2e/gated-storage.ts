// A storage whose reads and writes wait at a gate while it is shut: I/O held in flight inside
// blkback (requests consumed from the ring, not yet answered) for restart and unplug tests.
import type { Storage, StorageSectorSize } from "@pvkit/split-drivers";

export class GatedStorage implements Storage {
  readonly #base: Storage;
  #shut = false;
  #waiting: (() => void)[] = [];
  /** Reads and writes that reached the storage (including ones waiting at the gate). */
  readonly seen = { reads: 0, writes: 0 };

  constructor(base: Storage) {
    this.#base = base;
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
  get readOnly(): boolean {
    return this.#base.readOnly;
  }
  get discardable(): boolean {
    return this.#base.discardable;
  }
  get secureDiscard(): boolean {
    return this.#base.secureDiscard;
  }
  /** I/O waiting at the gate. */
  get held(): number {
    return this.#waiting.length;
  }
  shut(): void {
    this.#shut = true;
  }
  open(): void {
    this.#shut = false;
    const w = this.#waiting;
    this.#waiting = [];
    for (const go of w) go();
  }
  async #gate(): Promise<void> {
    if (this.#shut) await new Promise<void>((r) => this.#waiting.push(r));
  }
  async read(offset: number, into: Uint8Array): Promise<void> {
    this.seen.reads++;
    await this.#gate();
    return this.#base.read(offset, into);
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.seen.writes++;
    await this.#gate();
    return this.#base.write(offset, data);
  }
  flush(): Promise<void> {
    return this.#base.flush();
  }
  discard(offset: number, length: number, secure: boolean): Promise<void> {
    return this.#base.discard(offset, length, secure);
  }
  close(): Promise<void> {
    return this.#base.close();
  }
}
