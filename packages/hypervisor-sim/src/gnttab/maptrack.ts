/**
 * The maptrack table of a mapping domain (`struct grant_mapping` array in `grant_table.c`): one
 * entry per live GNTTABOP_map_grant_ref, found again by its handle at unmap time.
 *
 * Handles are indices. Like Xen, the table grows one maptrack frame (256 entries) at a time up to
 * `max_maptrack_frames`, and free handles form a FIFO list: a freed handle goes to the tail, so it
 * is not handed out again at once (a stale handle then gets GNTST_bad_handle rather than hitting
 * somebody else's mapping). Xen's per-vCPU lists and sentinel entry are not modelled; treat
 * handle values as opaque (Xen's `get_maptrack_handle` takes them from per-vCPU free lists).
 */
import { MAPTRACK_PER_PAGE } from "../abi/grant-table.js";
import type { GrantTable } from "./grant-table.js";

/** One live mapping. `flags` loses GNTMAP_host_map / GNTMAP_device_map as halves are unmapped. */
export interface MaptrackEntry {
  /** GNTMAP_* flags of the map request; 0 means unused. */
  flags: number;
  /** The granting domain's id. */
  domid: number;
  /** The grant ref in the granter's table. */
  ref: number;
  /** The granter's table (kept so a recycled domid can never be confused with the granter). */
  granter: GrantTable;
  /**
   * GFN of the host half in the mapper's physmap while it exists. Xen finds it in the p2m at
   * unmap time from `host_addr`; the simulator keeps it to drop the page on domain destruction.
   */
  hostGfn: number | undefined;
}

/** Marks "no handle available" (`INVALID_MAPTRACK_HANDLE`). */
export const INVALID_MAPTRACK_HANDLE = -1;

export class Maptrack {
  readonly #maxFrames: number;
  readonly #entries: (MaptrackEntry | undefined)[] = [];
  /** FIFO of free handles: `#free[#head..]`. */
  #free: number[] = [];
  #head = 0;
  #limit = 0;
  #live = 0;

  constructor(maxFrames: number) {
    this.#maxFrames = maxFrames;
  }

  /** `maptrack_limit`: handles below this belong to allocated maptrack frames. */
  get limit(): number {
    return this.#limit;
  }

  /** Maximum number of simultaneous mappings (`max_maptrack_frames` × 256). */
  get capacity(): number {
    return this.#maxFrames * MAPTRACK_PER_PAGE;
  }

  /** Mappings currently held. */
  get live(): number {
    return this.#live;
  }

  /**
   * `get_maptrack_handle()`: the head of the free list, growing the table by one maptrack frame
   * when the list is empty. INVALID_MAPTRACK_HANDLE when every handle is in use.
   */
  alloc(): number {
    if (this.#head === this.#free.length) {
      if (this.#limit / MAPTRACK_PER_PAGE >= this.#maxFrames) return INVALID_MAPTRACK_HANDLE;
      this.#free = [];
      this.#head = 0;
      for (let i = 0; i < MAPTRACK_PER_PAGE; i++) this.#free.push(this.#limit + i);
      this.#limit += MAPTRACK_PER_PAGE;
    }
    const h = this.#free[this.#head++]!;
    if (this.#head > 1024 && this.#head * 2 > this.#free.length) {
      this.#free = this.#free.slice(this.#head);
      this.#head = 0;
    }
    return h;
  }

  /** `put_maptrack_handle()`: the handle goes to the tail of the free list; its entry is cleared. */
  put(handle: number): void {
    if (this.#entries[handle] !== undefined) {
      this.#entries[handle] = undefined;
      this.#live--;
    }
    this.#free.push(handle);
  }

  /** Records the mapping behind a freshly allocated handle (flags written last, as Xen does). */
  set(handle: number, entry: MaptrackEntry): void {
    if (this.#entries[handle] === undefined) this.#live++;
    this.#entries[handle] = entry;
  }

  /** The entry behind `handle` whatever its flags, or undefined if never set / freed. */
  entry(handle: number): MaptrackEntry | undefined {
    return this.#entries[handle];
  }

  /** Every live mapping, highest handle first (the order `gnttab_release_mappings` walks). */
  *entriesDescending(): Generator<[number, MaptrackEntry]> {
    for (let h = this.#entries.length - 1; h >= 0; h--) {
      const e = this.#entries[h];
      if (e !== undefined && e.flags !== 0) yield [h, e];
    }
  }
}
