/**
 * The mapping side of grants, what a backend does (Linux `gnttab_map_refs`/`gnttab_unmap_refs`):
 * batched GNTTABOP_map_grant_ref / unmap_grant_ref of a peer's refs into this guest's physmap,
 * and GNTTABOP_copy (Xen's `grant_table.c`: `map_grant_ref`, `unmap_common`, `gnttab_copy`).
 *
 * A translated guest names the place of a host mapping by GFN (`host_addr >> 12`), and it must
 * be a hole. The mapper manages an area of hole GFNs for that:
 *
 * ```
 * 0 ... nrPages-1 | ... | first ......... first+count-1 | ... 0x37fff    | 0x38000 ...
 *  RAM            |     | mapping area (default 0x30000 |  shared_info   | grant-table
 *                 |     |  up to 0x37000)               | (EventChannels)| window
 * ```
 *
 * Each mapping is a disposable `MappedGrant`: a `Page` for a writable map, a `ReadonlyPage`
 * (no setters; writes throw ReadOnlyMappingError) for a read-only one. After unmap its page
 * throws DeadMappingError.
 */
import type { GuestMemory, Page, ReadonlyPage } from "@pvkit/hypervisor-sim";
import {
  GNTMAP,
  GNTST,
  XEN_PAGE_SIZE,
  type gnttab_map_grant_ref,
  type gnttab_unmap_grant_ref,
} from "@pvkit/hypervisor-sim/abi";
import { GrantStatusError } from "../errors.js";
import { type GnttabHypercalls, mapGrantRefs, unmapGrantRefs } from "../hypercall/gnttab-ops.js";
import { copyGrantPages, GrantCopyBatch, type GrantCopyOp } from "./grant-copy.js";
import { ClosedError } from "@pvkit/hypervisor-sim";
import { GrantError } from "./grant-error.js";

/** Default first GFN of the mapping area (well above the hand-picked GFNs tests and examples use). */
export const DEFAULT_MAP_AREA_FIRST = 0x30000;
/** Default end (exclusive) of the mapping area: below EventChannels' default shared_info GFN. */
export const DEFAULT_MAP_AREA_END = 0x37000;

/** What the mapper needs of a guest. */
export interface MapperGuest {
  readonly domid: number;
  readonly hypercall: GnttabHypercalls;
  readonly memory: Pick<GuestMemory, "nrPages" | "page" | "isHole">;
}

/** Options of `GrantMapper`. */
export interface GrantMapperOptions {
  /**
   * GFNs for mappings: `[first, first + count)`, above RAM. Default: from
   * `max(nrPages, DEFAULT_MAP_AREA_FIRST)` up to DEFAULT_MAP_AREA_END. GFNs that are not holes
   * when needed are skipped.
   */
  area?: { first: number; count: number };
}

/** Options of `map`. */
export interface MapOptions<RO extends boolean = boolean> {
  /** GNTMAP_readonly: the page is a ReadonlyPage. Default false. */
  readonly?: RO;
}

let markUnmapped: (g: MappedGrant<ReadonlyPage>) => void;
let makeMappedGrant: (
  mapper: GrantMapper,
  ref: number,
  domid: number,
  handle: number,
  gfn: number,
  page: ReadonlyPage,
  readonly: boolean,
) => MappedGrant<ReadonlyPage>;

/** One live mapping of a peer's grant. */
export class MappedGrant<P extends ReadonlyPage = Page> implements Disposable {
  readonly #mapper: GrantMapper;
  #alive = true;

  static {
    markUnmapped = (g) => {
      g.#alive = false;
    };
    makeMappedGrant = (mapper, ref, domid, handle, gfn, page, ro) =>
      new MappedGrant(mapper, ref, domid, handle, gfn, page, ro);
  }

  /** Use `GrantMapper.map` (private: the published .d.ts has no `new MappedGrant()`). */
  private constructor(
    mapper: GrantMapper,
    /** The peer's grant ref. */
    readonly ref: number,
    /** The granting domain. */
    readonly domid: number,
    /** Xen's maptrack handle (opaque). */
    readonly handle: number,
    /** Where the mapping sits in this guest's physmap. */
    readonly gfn: number,
    /** The mapped page; after unmap every access throws DeadMappingError. */
    readonly page: P,
    /** Whether it was mapped GNTMAP_readonly. */
    readonly readonly: boolean,
  ) {
    this.#mapper = mapper;
  }

  /** False once unmapped. */
  get alive(): boolean {
    return this.#alive;
  }

  /** Unmaps (GNTTABOP_unmap_grant_ref). Idempotent. @throws GrantStatusError, XenError. */
  unmap(): void {
    if (this.#alive) this.#mapper.unmap([this]);
  }

  /** Same as `unmap()`. */
  [Symbol.dispose](): void {
    this.unmap();
  }
}

/**
 * A backend's grant mappings of peers' refs: batched map/unmap into an area of hole GFNs, and
 * GNTTABOP_copy (`copy`, `copyBatch`). `close()` (or dispose) unmaps every live mapping.
 */
export class GrantMapper implements Disposable {
  readonly #guest: MapperGuest;
  /** First GFN of the mapping area. */
  readonly first: number;
  /** GFNs in the mapping area. */
  readonly count: number;
  readonly #freeSlots: number[] = [];
  #next: number;
  readonly #live = new Set<MappedGrant<ReadonlyPage>>();
  #closed = false;

  /** @throws RangeError for an area that overlaps RAM or is empty. */
  constructor(guest: MapperGuest, opts: GrantMapperOptions = {}) {
    this.#guest = guest;
    const nr = guest.memory.nrPages;
    const first = opts.area?.first ?? Math.max(nr, DEFAULT_MAP_AREA_FIRST);
    const count = opts.area?.count ?? DEFAULT_MAP_AREA_END - first;
    if (!Number.isInteger(first) || !Number.isInteger(count) || first < nr || count < 1) {
      throw new RangeError(
        `mapping area [${first}, ${first + count}) must be non-empty and above RAM (0..${nr - 1}); pass area`,
      );
    }
    this.first = first;
    this.count = count;
    this.#next = first;
  }

  /** Live mappings. */
  get mapped(): number {
    return this.#live.size;
  }

  /**
   * Maps each of `refs` granted by `domid`, in one batch. All or nothing: if an element fails,
   * the ones that mapped are unmapped again and nothing is returned.
   * @throws GrantStatusError (`index` = the failing element): GNTST_bad_gntref, GNTST_bad_domain,
   *   GNTST_general_error (not granted to us, or a writable map of a read-only grant), ...
   * @throws GrantError ERR_NO_MAP_SLOTS when the area is full; ClosedError after close().
   */
  map(refs: readonly number[], domid: number, opts: MapOptions<true>): MappedGrant<ReadonlyPage>[];
  map(refs: readonly number[], domid: number, opts?: MapOptions<false>): MappedGrant<Page>[];
  map(refs: readonly number[], domid: number, opts?: MapOptions): MappedGrant<ReadonlyPage>[];
  map(refs: readonly number[], domid: number, opts: MapOptions = {}): MappedGrant<ReadonlyPage>[] {
    this.#check("map");
    const ro = opts.readonly ?? false;
    const gfns: number[] = [];
    try {
      for (let i = 0; i < refs.length; i++) gfns.push(this.#takeSlot());
    } catch (e) {
      this.#freeSlots.push(...gfns.reverse());
      throw e;
    }
    const flags = GNTMAP.GNTMAP_host_map | (ro ? GNTMAP.GNTMAP_readonly : 0);
    const ops: gnttab_map_grant_ref[] = refs.map((ref, i) => ({
      host_addr: gfns[i]! * XEN_PAGE_SIZE,
      flags,
      ref,
      dom: domid,
    }));
    try {
      mapGrantRefs(this.#guest.hypercall, ops);
    } catch (e) {
      for (let i = gfns.length - 1; i >= 0; i--) {
        const gfn = gfns[i]!;
        const op = ops[i]!;
        if (
          op.status === GNTST.GNTST_okay &&
          op.handle !== undefined &&
          !this.#guest.memory.isHole(gfn)
        ) {
          // Xen mapped it and the rollback could not unmap it: keep it live, so that `mapped`
          // counts it and unmap() or close() can still end it, rather than lose its handle.
          this.#live.add(
            makeMappedGrant(this, op.ref, domid, op.handle, gfn, this.#guest.memory.page(gfn), ro),
          );
        } else this.#freeSlots.push(gfn);
      }
      throw e;
    }
    return ops.map((op, i) => {
      const gfn = gfns[i]!;
      const g = makeMappedGrant(
        this,
        op.ref,
        domid,
        op.handle!,
        gfn,
        this.#guest.memory.page(gfn),
        ro,
      );
      this.#live.add(g);
      return g;
    });
  }

  /** Maps one ref; see `map`. */
  mapOne(ref: number, domid: number, opts: MapOptions<true>): MappedGrant<ReadonlyPage>;
  mapOne(ref: number, domid: number, opts?: MapOptions<false>): MappedGrant<Page>;
  mapOne(ref: number, domid: number, opts?: MapOptions): MappedGrant<ReadonlyPage>;
  mapOne(ref: number, domid: number, opts: MapOptions = {}): MappedGrant<ReadonlyPage> {
    return this.map([ref], domid, opts)[0]!;
  }

  /**
   * Unmaps the live ones of `grants` in one batch (already unmapped ones, and repeats, are
   * skipped). Elements Xen unmapped are dead even if another element fails.
   * @throws GrantStatusError with `index` into `grants` (GNTST_bad_handle if the handle was
   *   unmapped behind the mapper's back, ...); XenError.
   */
  unmap(grants: readonly MappedGrant<ReadonlyPage>[]): void {
    const todo: MappedGrant<ReadonlyPage>[] = [];
    const at: number[] = [];
    grants.forEach((g, i) => {
      if (g.alive && this.#live.has(g) && !todo.includes(g)) {
        todo.push(g);
        at.push(i);
      }
    });
    if (todo.length === 0) return;
    const ops: gnttab_unmap_grant_ref[] = todo.map((g) => ({
      host_addr: g.gfn * XEN_PAGE_SIZE,
      dev_bus_addr: 0,
      handle: g.handle,
    }));
    let failure: unknown;
    try {
      unmapGrantRefs(this.#guest.hypercall, ops);
    } catch (e) {
      failure = e;
    }
    const okay = (i: number): boolean => failure === undefined || ops[i]!.status === 0;
    todo.forEach((g, i) => {
      if (!okay(i)) return;
      markUnmapped(g);
      this.#live.delete(g);
      this.#freeSlots.push(g.gfn);
    });
    if (failure instanceof GrantStatusError) {
      throw new GrantStatusError(
        failure.op,
        at[failure.index]!,
        failure.status,
        failure.batch,
        `grant ref ${todo[failure.index]!.ref} of d${todo[failure.index]!.domid}`,
      );
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * GNTTABOP_copy (see `copyGrantPages`): `{ from, to, length }` with each side a peer's
   * `{ ref, domid }` or a local `{ gfn }`.
   * @throws GrantStatusError (`index`): GNTST_bad_copy_arg when offset + length passes 4096, ...
   */
  copy(ops: readonly GrantCopyOp[]): void {
    this.#check("copy");
    copyGrantPages(this.#guest.hypercall, ops);
  }

  /** A reusable copy batch on this guest's hypercalls, for hot paths (see `GrantCopyBatch`). */
  copyBatch(): GrantCopyBatch {
    this.#check("copyBatch");
    return new GrantCopyBatch(this.#guest.hypercall);
  }

  /** Unmaps every live mapping (newest first) and refuses further maps. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.unmap([...this.#live].reverse());
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(op: string): void {
    if (this.#closed) throw new ClosedError(`the grant mapper of d${this.#guest.domid}`, op);
  }

  #takeSlot(): number {
    const mem = this.#guest.memory;
    for (let gfn = this.#freeSlots.pop(); gfn !== undefined; gfn = this.#freeSlots.pop()) {
      if (mem.isHole(gfn)) return gfn;
    }
    const end = this.first + this.count;
    while (this.#next < end) {
      const gfn = this.#next++;
      if (mem.isHole(gfn)) return gfn;
    }
    throw new GrantError(
      "ERR_NO_MAP_SLOTS",
      `no hole left in the mapping area [${this.first}, ${end}) of d${this.#guest.domid}`,
    );
  }
}
