/**
 * A guest's allocator of RAM pages meant for sharing (what Linux drivers get from
 * `alloc_page(GFP_KERNEL | __GFP_ZERO)` before `gnttab_grant_foreign_access`).
 *
 * ```
 * GFN 0 ............ first-1 | first ............... first+count-1 | ... nrPages-1
 *  left to the guest's own   |  this allocator's range            |
 *  fixed pages (rings picked |  pool -> alloc() -> zeroed Page     |
 *  by hand, toolstack pages) |  free() -> pool, or quarantine      |
 * ```
 *
 * Two security rules are built in:
 *
 * - **XSA-403**: every page is zeroed when it is handed out, so a page granted to a peer never
 *   carries what an earlier user left in it.
 * - **XSA-396**: a page with a grant that has not been ended — or whose end was deferred because
 *   the peer still maps it — is *held*. `free()` of a held page puts it in quarantine instead of
 *   the pool; it returns to the pool only when its last grant is released. `alloc()` never hands
 *   out a quarantined page.
 *
 * The grant client (`GrantTableClient`) holds and releases pages through `hold` / `release`.
 */
import type { GuestMemory, Page } from "@pvkit/hypervisor-sim";
import { ClosedError } from "@pvkit/hypervisor-sim";
import { GrantError } from "./grant-error.js";

/** The part of a guest's memory the allocator uses. */
export type AllocatorMemory = Pick<GuestMemory, "nrPages" | "writablePage">;

/** Options of `GuestPageAllocator`. */
export interface PageAllocatorOptions {
  /** First RAM GFN of the range. Default: `floor(nrPages / 2)` (the upper half of RAM). */
  first?: number;
  /** Pages in the range. Default: from `first` to the end of RAM. */
  count?: number;
}

/** A page handed out by the allocator: its GFN (what a grant names) and a writable view. */
export interface AllocatedPage {
  readonly gfn: number;
  readonly page: Page;
}

/** What `free()` did with a page. */
export type FreeOutcome = "freed" | "quarantined";

/**
 * The default range for a guest of `nrPages` pages: the upper half of RAM,
 * `[floor(nrPages / 2), nrPages)`. The lower half is left to pages a guest places by hand
 * (the tests' and examples' fixed GFNs, the toolstack's start_info/xenstore/console pages).
 */
export function defaultAllocatorRange(nrPages: number): { first: number; count: number } {
  const first = Math.floor(nrPages / 2);
  return { first, count: nrPages - first };
}

/**
 * Hands out zeroed RAM pages (XSA-403) of one GFN range of a guest for granting, and keeps a
 * page freed while a grant still names it in quarantine until the grant is released (XSA-396).
 * Pages are 4 KiB guest frames, named by GFN. `alloc()` throws GrantError ERR_NO_PAGES when the
 * range is used up and ClosedError after `close()`.
 */
export class GuestPageAllocator implements Disposable {
  readonly #memory: AllocatorMemory;
  /** First GFN of the range. */
  readonly first: number;
  /** Pages in the range. */
  readonly count: number;
  /** Freed GFNs, reused last-in first-out (below `#next`). */
  readonly #pool: number[] = [];
  /** GFNs from here to the end of the range have never been handed out. */
  #next: number;
  readonly #allocated = new Set<number>();
  readonly #holds = new Map<number, number>();
  readonly #quarantine = new Set<number>();
  #closed = false;

  /**
   * @param memory the guest's memory (`guest.memory`).
   * @throws RangeError when the range is empty or not inside the guest's RAM.
   */
  constructor(memory: AllocatorMemory, opts: PageAllocatorOptions = {}) {
    this.#memory = memory;
    const def = defaultAllocatorRange(memory.nrPages);
    this.first = opts.first ?? def.first;
    this.count = opts.count ?? memory.nrPages - this.first;
    if (
      !Number.isInteger(this.first) ||
      !Number.isInteger(this.count) ||
      this.first < 0 ||
      this.count < 1 ||
      this.first + this.count > memory.nrPages
    ) {
      throw new RangeError(
        `page range [${this.first}, ${this.first + this.count}) is not inside RAM 0..${memory.nrPages - 1}`,
      );
    }
    this.#next = this.first;
  }

  /** Whether `gfn` lies in this allocator's range. */
  owns(gfn: number): boolean {
    return Number.isInteger(gfn) && gfn >= this.first && gfn < this.first + this.count;
  }

  /** Pages that `alloc()` can still hand out. */
  get available(): number {
    return this.#pool.length + (this.first + this.count - this.#next);
  }

  /** Pages handed out and not freed. */
  get allocated(): number {
    return this.#allocated.size;
  }

  /** Freed pages waiting for their grants to be released before they rejoin the pool. */
  get quarantined(): number {
    return this.#quarantine.size;
  }

  /** Whether `gfn` is held by a grant (granted, or ended but still in use by the peer). */
  isHeld(gfn: number): boolean {
    return this.#holds.has(gfn);
  }

  /**
   * Hands out a free page of the range, zeroed (XSA-403).
   * @throws GrantError ERR_NO_PAGES when the range is exhausted; ClosedError after close().
   */
  alloc(): AllocatedPage {
    this.#live("alloc");
    let gfn = this.#pool.pop();
    if (gfn === undefined) {
      if (this.#next >= this.first + this.count) {
        const q = this.#quarantine.size;
        throw new GrantError(
          "ERR_NO_PAGES",
          `all ${this.count} pages of [${this.first}, ${this.first + this.count}) are in use` +
            (q > 0 ? ` (${q} quarantined: freed while a peer still maps them)` : ""),
        );
      }
      gfn = this.#next++;
    }
    const page = this.#memory.writablePage(gfn);
    page.fill(0); // XSA-403: no stale bytes reach a peer
    this.#allocated.add(gfn);
    return { gfn, page };
  }

  /**
   * Gives a page back. A page still held by a grant goes to quarantine and rejoins the pool
   * when its last grant is released (`"quarantined"`); otherwise it rejoins at once (`"freed"`).
   * @throws RangeError for a GFN that is not allocated here (never handed out, or freed twice).
   */
  free(page: number | AllocatedPage): FreeOutcome {
    const gfn = typeof page === "number" ? page : page.gfn;
    if (!this.#allocated.delete(gfn))
      throw new RangeError(`gfn ${gfn} is not an allocated page of this allocator`);
    if (this.#holds.has(gfn)) {
      this.#quarantine.add(gfn);
      return "quarantined";
    }
    this.#pool.push(gfn);
    return "freed";
  }

  /**
   * A grant now names `gfn` (called by the grant client). The page must be allocated: granting
   * a page from the pool would let `alloc()` hand out a page a peer can reach.
   * @throws RangeError if `gfn` is in the range but not allocated.
   */
  hold(gfn: number): void {
    if (!this.#allocated.has(gfn) && !this.#holds.has(gfn)) {
      throw new RangeError(
        `gfn ${gfn} is a free page of the allocator; allocate it before granting it`,
      );
    }
    this.#holds.set(gfn, (this.#holds.get(gfn) ?? 0) + 1);
  }

  /** A grant of `gfn` was ended and released (called by the grant client). */
  release(gfn: number): void {
    const n = this.#holds.get(gfn);
    if (n === undefined) return;
    if (n > 1) {
      this.#holds.set(gfn, n - 1);
      return;
    }
    this.#holds.delete(gfn);
    if (this.#quarantine.delete(gfn)) this.#pool.push(gfn);
  }

  /** Stops handing out pages. Held and quarantined pages stay as they are. Idempotent. */
  close(): void {
    this.#closed = true;
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #live(op: string): void {
    if (this.#closed) throw new ClosedError("the page allocator", op);
  }
}
