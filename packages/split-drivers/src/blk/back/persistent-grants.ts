/**
 * blkback's persistent grants for one ring (Linux `xen-blkback/blkback.c`: `get_persistent_gnt`,
 * `add_persistent_gnt`, `put_persistent_gnt`, `purge_persistent_gnt`): frontend grant refs kept
 * mapped (writable) across requests, so a frontend that reuses its data pages
 * (`feature-persistent` on both ends) costs no map/unmap per request.
 *
 * - At most `max` (Linux `max_persistent_grants`, 1056) are kept; a segment whose ref is not
 *   cached once the cache is full is mapped for that request only, and the ring is marked
 *   `overflowed` ("using maximum number of persistent grants").
 * - A ref in use by an in-flight request is ACTIVE; a second use at the same time ("requesting
 *   a grant already in use") is mapped for that request only.
 * - The purge (every LRU_INTERVAL, 100 ms) drops grants unused for `unusedNs` (60 s), and when
 *   the cache is full and overflowed, `count - max + 5% of max` more, least recently used
 *   first, never an ACTIVE one.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import type { GrantMapper, MappedGrant } from "@pvkit/guest-sdk";

/** Linux `max_persistent_grants`. */
export const MAX_PERSISTENT_GRANTS = 1056;
/** Linux `LRU_INTERVAL`: 100 ms between purges (ns). */
export const LRU_INTERVAL_NS = 100_000_000;
/** Linux `LRU_PERCENT_CLEAN`. */
export const LRU_PERCENT_CLEAN = 5;
/** Linux `persistent_grant_unused_seconds` (ns). */
export const PERSISTENT_GRANT_UNUSED_NS = 60_000_000_000;

interface Entry {
  readonly grant: MappedGrant<Page>;
  /**
   * What `take` hands out for this grant (immutable, so shared by every request); set once,
   * right after the entry is made (it points back at the entry).
   */
  seg: CachedSegment;
  active: number;
  lastUsed: number;
  /** Order of last use (larger is more recent): the LRU order, without reordering the map. */
  useSeq: number;
}

/** What `take` gives for one segment. */
export interface SegmentPage {
  readonly page: Page;
  /** Whether it is a cached grant (released with `release`, not unmapped). */
  readonly persistent: boolean;
  readonly gref: number;
}

/** A cached grant's `SegmentPage`, which knows its entry (so `releaseN` needs no lookup). */
interface CachedSegment extends SegmentPage {
  readonly entry: Entry;
}

const NO_MAPS: MappedGrant<Page>[] = [];

/** See the file header. */
export class PersistentGrants {
  readonly max: number;
  readonly #mapper: GrantMapper;
  readonly #domid: number;
  /** By ref; LRU order is by `useSeq` (`#lru()`). */
  readonly #map = new Map<number, Entry>();
  #useSeq = 0;
  #overflowed = false;
  #nextPurge = 0;
  readonly stats = { hits: 0, mapped: 0, overflows: 0, purged: 0 };

  constructor(mapper: GrantMapper, domid: number, max = MAX_PERSISTENT_GRANTS) {
    if (!Number.isInteger(max) || max < 0)
      throw new RangeError(`max persistent grants ${max} is not a count`);
    this.#mapper = mapper;
    this.#domid = domid;
    this.max = max;
  }

  /** Grants cached now. */
  get size(): number {
    return this.#map.size;
  }
  /** Whether a segment was mapped non-persistently because the cache was full. */
  get overflowed(): boolean {
    return this.#overflowed;
  }
  /** The cached refs, least recently used first. */
  get refs(): number[] {
    return this.#lru().map((e) => e.grant.ref);
  }

  /**
   * Pages for `grefs` (one request's segments): cached ones marked ACTIVE, the others mapped in
   * one batch (all or nothing); new ones are cached while there is room. `temporary` lists
   * the mappings to unmap when the request is done.
   * @throws what GrantMapper.map throws (GrantStatusError for any segment): nothing is then
   *   mapped or marked for this request.
   */
  take(
    grefs: readonly number[],
    now: number,
  ): { pages: SegmentPage[]; temporary: MappedGrant<Page>[] } {
    const pages = new Array<SegmentPage | undefined>(grefs.length);
    let hitCount = 0;
    const missAt: number[] = [];
    const missRefs: number[] = [];
    for (let i = 0; i < grefs.length; i++) {
      const gref = grefs[i]!;
      const e = this.#map.get(gref);
      if (e !== undefined && e.active === 0) {
        e.active++;
        hitCount++;
        pages[i] = e.seg;
      } else {
        missAt.push(i);
        missRefs.push(gref);
      }
    }
    if (missRefs.length === 0) {
      // All cached (the steady state): nothing to map.
      for (let i = 0; i < pages.length; i++) this.#used(this.#map.get(grefs[i]!)!, now);
      this.stats.hits += hitCount;
      return { pages: pages as SegmentPage[], temporary: NO_MAPS };
    }
    let maps: MappedGrant<Page>[] = [];
    try {
      maps = this.#mapper.map(missRefs, this.#domid);
    } catch (e) {
      for (let i = 0; i < pages.length; i++)
        if (pages[i] !== undefined) this.#map.get(grefs[i]!)!.active--;
      throw e;
    }
    for (let i = 0; i < pages.length; i++)
      if (pages[i] !== undefined) this.#used(this.#map.get(grefs[i]!)!, now);
    this.stats.hits += hitCount;
    const temporary: MappedGrant<Page>[] = [];
    maps.forEach((m, j) => {
      const gref = missRefs[j]!;
      const i = missAt[j]!;
      if (!this.#map.has(gref) && this.#map.size < this.max) {
        const e: Entry = {
          grant: m,
          seg: undefined as unknown as CachedSegment,
          active: 1,
          lastUsed: now,
          useSeq: ++this.#useSeq,
        };
        e.seg = { page: m.page, persistent: true, gref, entry: e };
        this.#map.set(gref, e);
        this.stats.mapped++;
        pages[i] = e.seg;
      } else {
        if (!this.#map.has(gref)) {
          this.#overflowed = true;
          this.stats.overflows++;
        }
        temporary.push(m);
        pages[i] = { page: m.page, persistent: false, gref };
      }
    });
    return { pages: pages as SegmentPage[], temporary };
  }

  /**
   * `take` for the first `n` refs of `grefs`, with the pages written to `out[0..n)` instead of
   * a new array: the path of every request once its refs are cached (no allocation then). The
   * same outcome as `take` in every case (it falls back to `take` for a ref not cached, or
   * cached and ACTIVE). Returns the mappings to unmap when the request is done.
   * @throws what `take` throws; nothing is then marked for this request.
   */
  takeInto(
    grefs: readonly number[],
    n: number,
    now: number,
    out: SegmentPage[],
  ): readonly MappedGrant<Page>[] {
    const map = this.#map;
    let i = 0;
    for (; i < n; i++) {
      const e = map.get(grefs[i]!);
      if (e === undefined || e.active !== 0) break;
      e.active++;
      e.lastUsed = now;
      e.useSeq = ++this.#useSeq;
      out[i] = e.seg;
    }
    if (i === n) {
      this.stats.hits += n;
      return NO_MAPS;
    }
    // Undo the marks (the LRU stamps are refreshed by take's own pass) and take the general path.
    for (let j = 0; j < i; j++) map.get(grefs[j]!)!.active--;
    const r = this.take(grefs.slice(0, n), now);
    for (let j = 0; j < n; j++) out[j] = r.pages[j]!;
    return r.temporary;
  }

  /**
   * `release` of the first `n` pages of `pages`. A cached segment names its entry: an entry
   * leaves the map only while not ACTIVE (`purge`, `clear`), so an ACTIVE one is the map's entry
   * for its ref with this page, which is what `release` looks up.
   */
  releaseN(pages: readonly SegmentPage[], n: number): void {
    for (let i = 0; i < n; i++) {
      const p = pages[i]!;
      if (!p.persistent) continue;
      const e = (p as CachedSegment).entry;
      if (e.active > 0) e.active--;
    }
  }

  /** Ends a request's use of its cached pages (`put_persistent_gnt`). */
  release(pages: readonly SegmentPage[]): void {
    for (const p of pages) {
      if (!p.persistent) continue;
      const e = this.#map.get(p.gref);
      if (e !== undefined && e.grant.page === p.page && e.active > 0) e.active--;
    }
  }

  /**
   * The periodic purge (see the file header), run when `now` has reached the next LRU tick.
   * @returns the refs unmapped.
   */
  purge(now: number): number[] {
    if (now < this.#nextPurge) return [];
    this.#nextPurge = now + LRU_INTERVAL_NS;
    const count = this.#map.size;
    let clean = 0;
    if (count > this.max || (count === this.max && this.#overflowed)) {
      clean = Math.min(count, count - this.max + Math.floor(this.max / 100) * LRU_PERCENT_CLEAN);
    }
    const drop: Entry[] = [];
    for (const e of this.#lru()) {
      if (e.active > 0) continue;
      if (clean > 0) {
        clean--;
        drop.push(e);
      } else if (now - e.lastUsed >= PERSISTENT_GRANT_UNUSED_NS) drop.push(e);
    }
    this.#overflowed = false;
    return this.#drop(drop);
  }

  /** Unmaps every cached grant that is not ACTIVE (disconnect; all are idle by then). */
  clear(): number[] {
    return this.#drop(this.#lru().filter((e) => e.active === 0));
  }

  #drop(entries: Entry[]): number[] {
    if (entries.length === 0) return [];
    for (const e of entries) this.#map.delete(e.grant.ref);
    this.stats.purged += entries.length;
    this.#mapper.unmap(entries.map((e) => e.grant));
    return entries.map((e) => e.grant.ref);
  }

  /** A hit: most recently used now (Linux moves it to the LRU's tail). */
  #used(e: Entry, now: number): void {
    e.lastUsed = now;
    e.useSeq = ++this.#useSeq;
  }

  /** The cached entries, least recently used first (sorted at purge time, not on every hit). */
  #lru(): Entry[] {
    return [...this.#map.values()].sort((a, b) => a.useSeq - b.useSeq);
  }
}
