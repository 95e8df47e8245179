// A storage whose reads and writes wait at a gate while it is shut: I/O held in flight inside
// blkback (requests consumed from the ring, not yet answered) for restart and unplug tests.
import { type Storage, WrappedStorage } from "@pvkit/split-drivers";

export class GatedStorage extends WrappedStorage {
  #shut = false;
  #waiting: (() => void)[] = [];
  /** Reads and writes that reached the storage (including ones waiting at the gate). */
  readonly seen = { reads: 0, writes: 0 };

  /** Closing the gate's storage closes `base` too. */
  constructor(base: Storage) {
    super(base, true);
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
  override async read(offset: number, into: Uint8Array): Promise<void> {
    this.seen.reads++;
    await this.#gate();
    return this.base.read(offset, into);
  }
  override async write(offset: number, data: Uint8Array): Promise<void> {
    this.seen.writes++;
    await this.#gate();
    return this.base.write(offset, data);
  }
}
