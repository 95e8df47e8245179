/**
 * Guest frames a program does disk I/O in place in: the zero-copy buffers of blkfront. Linux
 * blkfront grants a bio's own pages to the backend (`blkif_setup_rw_req_grant` with
 * `gnttab_grant_foreign_access_ref` on the bio page's GFN) and copies through its bounce pages
 * only when it must; here a plain `Uint8Array` is bounced, and frames from
 * {@link BlkfrontDisk.allocFrames} are granted themselves, so a read lands once, straight from
 * the backend's storage into the frame, and a write is taken from the frame without a copy.
 *
 * - The frames are pages of the guest's page allocator (`GuestPageAllocator.alloc`), zeroed when
 *   handed out (XSA-403: no stale byte reaches the backend). They belong to the disk that made
 *   them; they are granted to its backend only while a request names them, or, with
 *   `feature-persistent`, from the first request that names them until the connection ends or
 *   they are released — the backend then keeps them mapped, as Linux blkback keeps persistent
 *   grants. So hold in them only data meant for the disk.
 * - `release()` ends those grants and frees the pages. A grant the backend still maps is ended
 *   later (XSA-396: `gnttab_end_foreign_access` defers it), its page held in the allocator's
 *   quarantine until then, never handed out while the backend can reach it.
 * - Byte `i` of the frames is byte `i % 4096` of `pages[i / 4096]`; read and write them through
 *   those views (their accessors check bounds and liveness).
 */
import type { Page } from "@pvkit/hypervisor-sim";
import { XEN_PAGE_SIZE } from "@pvkit/hypervisor-sim/abi";
import type { GuestPageAllocator } from "@pvkit/guest-sdk";

/** What the disk does when frames are released (ends their grants on every queue). */
export type FramesReleaser = (frames: BlkfrontFrames) => void;

let makeFrames: (
  owner: object,
  allocator: GuestPageAllocator,
  count: number,
  onRelease: FramesReleaser,
) => BlkfrontFrames;

/** @internal `BlkfrontDisk.allocFrames` makes frames (the constructor is private). */
export function newBlkfrontFrames(
  owner: object,
  allocator: GuestPageAllocator,
  count: number,
  onRelease: FramesReleaser,
): BlkfrontFrames {
  return makeFrames(owner, allocator, count, onRelease);
}

/** Zero-copy I/O buffers: see the file header. Made by {@link BlkfrontDisk.allocFrames}. */
export class BlkfrontFrames {
  /** The guest's own writable views of the frames, in byte order. */
  readonly pages: readonly Page[];
  /** The frames' GFNs (what a grant names), in the order of `pages`. */
  readonly gfns: readonly number[];
  /** `pages.length * 4096`. */
  readonly byteLength: number;
  /** @internal The disk that made these frames. */
  readonly owner: object;
  readonly #allocator: GuestPageAllocator;
  readonly #onRelease: FramesReleaser;
  #released = false;

  static {
    makeFrames = (owner, allocator, count, onRelease) =>
      new BlkfrontFrames(owner, allocator, count, onRelease);
  }

  /** Made by `BlkfrontDisk.allocFrames` (private: the published .d.ts has no `new BlkfrontFrames()`). */
  private constructor(
    owner: object,
    allocator: GuestPageAllocator,
    count: number,
    onRelease: FramesReleaser,
  ) {
    const pages: Page[] = [];
    const gfns: number[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const p = allocator.alloc();
        pages.push(p.page);
        gfns.push(p.gfn);
      }
    } catch (e) {
      for (const g of gfns) allocator.free(g);
      throw e;
    }
    this.pages = pages;
    this.gfns = gfns;
    this.byteLength = count * XEN_PAGE_SIZE;
    this.owner = owner;
    this.#allocator = allocator;
    this.#onRelease = onRelease;
  }

  /** Whether `release()` has run (the frames can no longer be used for I/O). */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Ends the frames' grants (deferred while the backend still maps one, XSA-396) and frees the
   * pages (quarantined until their grants are released). The frames must not be in a request
   * that has not settled. Idempotent.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#onRelease(this);
    for (const g of this.gfns) this.#allocator.free(g);
  }

  /** Same as `release()`. */
  [Symbol.dispose](): void {
    this.release();
  }
}
