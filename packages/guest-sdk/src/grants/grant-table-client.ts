/**
 * The granting side of a guest's grant table, v1 (Linux `drivers/xen/grant-table.c`, Mini-OS
 * `gnttab.c`): it writes entries into the guest's own grant-table frames and ends them with the
 * XSA-396 rule. Entry and GTF_* layouts: `xen/include/public/grant_table.h`; revoking only by
 * cmpxchg of the flags while neither GTF_reading nor GTF_writing is set: XSA-396, Linux
 * `gnttab_end_foreign_access_ref`; Xen clears those bits only as pins go (XSA-230,
 * `grant_table.c`: `reduce_status_for_pin`); pages zeroed before granting: XSA-403.
 *
 * ```
 * grant-table frames (at the GFNs setup_table reports)       client bookkeeping
 * frame 0: ref 0..7  toolstack (console, xenstore): never touched
 *          ref 8..511                                          free refs: LIFO stack, then
 * frame 1: ref 512..1023  (setup_table grows the table          the never-used high mark
 * ...                      on demand up to max_nr_frames)     deferred: ended while mapped
 * entry = { u16 flags @0; u16 domid @2; u32 frame @4 }         leaked: given up (never reused)
 * ```
 *
 * **Granting** writes `domid`, then `frame`, then — after the write barrier C code needs —
 * `flags`: Xen may act on the entry as soon as the type bits appear.
 *
 * **Ending** (`endAccess`) reads `flags`; if GTF_reading or GTF_writing is set the peer still
 * maps (or is copying) the page, so the grant is neither ended nor reusable. Otherwise it
 * compare-and-swaps `flags` to 0: it re-reads `flags` right before the write and starts over if
 * Xen changed them in between (a map that raced with us). A grant found in use goes on the
 * deferred list; its ref stays allocated and its page stays held (the allocator will not hand
 * it out again, even after `free()`), until a retry finds it released. Retries run at the
 * start of every `grantAccess` / `endAccess` call and on `retryDeferred()`. The client has no
 * clock: the xenbus driver framework retries on a virtual-time timer (deferred-retry.ts, Linux's
 * `deferred_timer`), and a driver may call `retryDeferred()` once it learns that the peer
 * unmapped (a ring response, a xenbus state change). `onDeferredDrained` tells such a timer that
 * the list became empty.
 */
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import {
  GNTTAB_NR_RESERVED_ENTRIES,
  GRANT_ENTRIES_V1_PER_FRAME,
  GRANT_ENTRY_V1_SIZE,
  GTF,
  grant_entry_v1,
  isU32,
} from "@pvkit/hypervisor-sim/abi";
import { querySize, setupTable } from "../hypercall/gnttab-ops.js";
import { ClosedError } from "@pvkit/hypervisor-sim";
import { GrantError } from "./grant-error.js";
import { type GrantedPage, newGrantedPage } from "./granted-page.js";
import type { GuestPageAllocator } from "./page-allocator.js";

/** What the client needs of a guest: its domid, vCPU 0's hypercalls and its memory. */
export type GrantGuest = Pick<Guest, "domid" | "hypercall" | "memory">;

/** Options of `GrantTableClient.of`. */
export interface GrantTableClientOptions {
  /**
   * The allocator whose pages this client grants: a granted page of its range is held (kept
   * out of the pool) until the grant is ended and released. Required by `grantPage`.
   */
  allocator?: GuestPageAllocator;
  /**
   * Retries after which a deferred grant is given up: it counts as `leaked`, and its ref and
   * page are never reused. Default: never give up.
   */
  maxDeferredRetries?: number;
}

/** Options of a grant. */
export interface GrantOptions {
  /** The peer may only read (GTF_readonly). Default false. */
  readonly?: boolean;
}

/** What `close()` found. */
export interface GrantCloseReport {
  /** Grants ended by the close. */
  readonly ended: number;
  /** Refs the peer still maps: they could not be ended and are leaked (never reused). */
  readonly inUse: readonly number[];
}

type GrantState = "active" | "deferred" | "leaked";

interface GrantRecord {
  readonly ref: number;
  readonly domid: number;
  readonly gfn: number;
  readonly readonly: boolean;
  /** Whether the allocator holds `gfn` for this grant. */
  readonly held: boolean;
  state: GrantState;
  retries: number;
}

const IN_USE = GTF.GTF_reading | GTF.GTF_writing;
const FLAGS = grant_entry_v1.flags[0];
const DOMID = grant_entry_v1.domid[0];
const FRAME = grant_entry_v1.frame[0];
/** Compare-and-swap attempts before a grant whose flags keep changing is treated as in use. */
const MAX_CMPXCHG = 16;

/**
 * The granting side of a guest's v1 grant table (`grant_table.h`; Linux
 * `gnttab_grant_foreign_access` / `gnttab_end_foreign_access_ref`). One per guest, from
 * `of(guest)`; it hands out refs from 8 up (0..7 are the toolstack's). Ending a grant the peer
 * still maps is deferred, never forced (XSA-396). Refusals throw GrantError (ERR_NO_GRANT_REFS,
 * ERR_UNKNOWN_REF, ClosedError, ...); failed GNTTABOP calls throw XenError / GrantStatusError.
 */
export class GrantTableClient implements Disposable {
  static readonly #registry = new WeakMap<object, GrantTableClient>();

  /**
   * The grant client of `guest` (one per guest: it owns refs 8 and up), created on first use;
   * later calls return the same instance and ignore `opts`. After `close()` the next call
   * creates a successor that inherits the refs the closed client leaked (a peer still maps
   * them, so they are never handed out again) and allocates refs where it left off.
   * @throws XenError / GrantStatusError if query_size or setup_table fails.
   */
  static of(guest: GrantGuest, opts: GrantTableClientOptions = {}): GrantTableClient {
    let c = GrantTableClient.#registry.get(guest);
    if (c === undefined || c.#closed) {
      c = new GrantTableClient(guest, opts, c);
      GrantTableClient.#registry.set(guest, c);
    }
    return c;
  }

  readonly #guest: GrantGuest;
  readonly #allocator: GuestPageAllocator | undefined;
  readonly #maxRetries: number;
  readonly #maxFrames: number;
  #frames: Page[] = [];
  readonly #grants = new Map<number, GrantRecord>();
  readonly #freeRefs: number[] = [];
  #nextRef = GNTTAB_NR_RESERVED_ENTRIES;
  #deferred: GrantRecord[] = [];
  readonly #drained = new Set<() => void>();
  #leaked = 0;
  #closed = false;

  private constructor(
    guest: GrantGuest,
    opts: GrantTableClientOptions,
    predecessor?: GrantTableClient,
  ) {
    this.#guest = guest;
    this.#allocator = opts.allocator;
    this.#maxRetries = opts.maxDeferredRetries ?? Number.POSITIVE_INFINITY;
    const size = querySize(guest.hypercall);
    this.#maxFrames = size.maxNrFrames;
    this.#setup(Math.max(1, size.nrFrames));
    if (predecessor !== undefined) {
      // A closed client's refs are all free or leaked (close ends or leaks every grant).
      this.#nextRef = predecessor.#nextRef;
      this.#freeRefs.push(...predecessor.#freeRefs);
      for (const rec of predecessor.#grants.values()) this.#grants.set(rec.ref, rec);
      this.#leaked = predecessor.#grants.size;
    }
  }

  /** The guest's domid. */
  get domid(): number {
    return this.#guest.domid;
  }
  /** Grant-table frames set up so far (512 refs each). */
  get nrFrames(): number {
    return this.#frames.length;
  }
  /** `max_nr_frames` reported by query_size. */
  get maxFrames(): number {
    return this.#maxFrames;
  }
  /** Grants given and not yet ended. */
  get active(): number {
    return this.#grants.size - this.#deferred.length - this.#leaked;
  }
  /** Grants whose end was refused because the peer still maps them, awaiting a retry. */
  get deferred(): number {
    return this.#deferred.length;
  }
  /** Deferred grants given up (`maxDeferredRetries`, or still mapped at `close()`). */
  get leaked(): number {
    return this.#leaked;
  }
  /** Distinct pages not reusable because a deferred or leaked grant still names them. */
  get quarantinedPages(): number {
    const gfns = new Set<number>();
    for (const r of this.#grants.values()) if (r.state !== "active") gfns.add(r.gfn);
    return gfns.size;
  }

  /**
   * Grants `domid` access to this guest's frame `gfn` and returns the ref (8 and up). Grows the
   * table by a frame when the current ones are full. Retries deferred ends first.
   * @throws GrantError ERR_NO_GRANT_REFS when the table is at `max_nr_frames` and full; ClosedError.
   * @throws RangeError for a domid or gfn that does not fit its field, or a free page of the
   *   allocator (allocate before granting).
   */
  grantAccess(domid: number, gfn: number, opts: GrantOptions = {}): number {
    this.#live("grantAccess");
    if (!Number.isInteger(domid) || domid < 0 || domid > 0xffff)
      throw new RangeError(`domid ${domid} is not a u16`);
    if (!isU32(gfn)) throw new RangeError(`gfn ${gfn} does not fit a v1 entry's u32 frame`);
    this.retryDeferred();
    const held = this.#allocator?.owns(gfn) ?? false;
    if (held) this.#allocator!.hold(gfn);
    let ref: number;
    try {
      ref = this.#allocRef();
    } catch (e) {
      if (held) this.#allocator!.release(gfn);
      throw e;
    }
    const ro = opts.readonly ?? false;
    const [page, off] = this.#entry(ref);
    // grant_table.h: domid, frame, write barrier, then flags (Xen may use the entry from then on).
    page.setU16(off + DOMID, domid);
    page.setU32(off + FRAME, gfn);
    page.setU16(off + FLAGS, GTF.GTF_permit_access | (ro ? GTF.GTF_readonly : 0));
    this.#grants.set(ref, { ref, domid, gfn, readonly: ro, held, state: "active", retries: 0 });
    return ref;
  }

  /**
   * Allocates a zeroed page from the allocator and grants it to `domid`. Disposing the result
   * ends the grant (deferred if still mapped) and frees the page (quarantined until released).
   * @throws RangeError without an allocator; GrantError ERR_NO_PAGES / ERR_NO_GRANT_REFS / ClosedError.
   */
  grantPage(domid: number, opts: GrantOptions = {}): GrantedPage {
    this.#live("grantPage");
    const alloc = this.#allocator;
    if (alloc === undefined)
      throw new RangeError("grantPage needs a client created with an allocator");
    const p = alloc.alloc();
    try {
      const ref = this.grantAccess(domid, p.gfn, opts);
      return newGrantedPage(this, alloc, ref, domid, p.gfn, p.page, opts.readonly ?? false);
    } catch (e) {
      alloc.free(p.gfn);
      throw e;
    }
  }

  /**
   * Ends a grant (`gnttab_end_foreign_access_ref`), XSA-396-safe. Returns true if the entry was
   * cleared: the ref is free again and the page released. Returns false if the peer still maps
   * the page: the grant is deferred (or stays deferred), its ref and page stay out of use, and
   * a later retry ends it. Retries other deferred ends first.
   * @throws GrantError ERR_UNKNOWN_REF for a ref this client did not grant (or already ended); ClosedError.
   */
  endAccess(ref: number): boolean {
    this.#live("endAccess");
    this.retryDeferred();
    const rec = this.#grants.get(ref);
    if (rec === undefined)
      throw new GrantError(
        "ERR_UNKNOWN_REF",
        `grant ref ${ref} of d${this.domid} is not granted by this client`,
        [ref],
      );
    if (rec.state !== "active") return false;
    if (this.#tryEnd(ref)) {
      this.#release(rec);
      return true;
    }
    rec.state = "deferred";
    this.#deferred.push(rec);
    return false;
  }

  /**
   * Tries to end every deferred grant again. Returns how many were ended (their refs and pages
   * are reusable now). A grant retried more than `maxDeferredRetries` times is given up (leaked).
   */
  retryDeferred(): number {
    if (this.#deferred.length === 0) return 0;
    let ended = 0;
    const keep: GrantRecord[] = [];
    for (const rec of this.#deferred) {
      if (this.#tryEnd(rec.ref)) {
        this.#release(rec);
        ended++;
      } else if (++rec.retries > this.#maxRetries) {
        rec.state = "leaked";
        this.#leaked++;
      } else keep.push(rec);
    }
    this.#deferred = keep;
    if (keep.length === 0) for (const fn of [...this.#drained]) fn();
    return ended;
  }

  /**
   * Calls `fn` each time the deferred list becomes empty (every deferred grant ended or given
   * up), e.g. to stop a retry timer. Returns a function that removes it.
   */
  onDeferredDrained(fn: () => void): () => void {
    this.#drained.add(fn);
    return () => void this.#drained.delete(fn);
  }

  /** Whether `ref` is granted by this client and not yet ended (deferred and leaked count too). */
  isGranted(ref: number): boolean {
    return this.#grants.has(ref);
  }

  /**
   * Ends every grant it can and leaks the rest (the peer still maps them: their refs and pages
   * are never reused). Further use throws ClosedError; `of()` then creates a new client. Idempotent.
   */
  close(): GrantCloseReport {
    if (this.#closed) return { ended: 0, inUse: [] };
    this.retryDeferred();
    let ended = 0;
    const inUse: number[] = [];
    for (const rec of [...this.#grants.values()]) {
      if (rec.state === "active" && this.#tryEnd(rec.ref)) {
        this.#release(rec);
        ended++;
        continue;
      }
      if (rec.state !== "leaked") this.#leaked++;
      rec.state = "leaked";
      inUse.push(rec.ref);
    }
    const had = this.#deferred.length > 0;
    this.#deferred = [];
    this.#closed = true;
    if (had) for (const fn of [...this.#drained]) fn();
    return { ended, inUse };
  }

  /**
   * `close()`, then throws GrantError ERR_GRANT_IN_USE (with `refs`) if a peer still mapped some
   * grants: ending a grant still mapped is an error, never a silent success.
   */
  [Symbol.dispose](): void {
    const r = this.close();
    if (r.inUse.length > 0) {
      throw new GrantError(
        "ERR_GRANT_IN_USE",
        `d${this.domid}: ${r.inUse.length} grant(s) still mapped by a peer were leaked: refs ${r.inUse.join(", ")}`,
        r.inUse,
      );
    }
  }

  // ---- internals ----------------------------------------------------------------------------

  #live(op: string): void {
    if (this.#closed) throw new ClosedError(`the grant client of d${this.domid}`, op);
  }

  /** setup_table for `nr` frames; the frames' pages become this client's view of the table. */
  #setup(nr: number): void {
    const gfns = setupTable(this.#guest.hypercall, nr);
    this.#frames = gfns.map((gfn) => this.#guest.memory.writablePage(gfn));
  }

  #allocRef(): number {
    const free = this.#freeRefs.pop();
    if (free !== undefined) return free;
    if (this.#nextRef >= this.#frames.length * GRANT_ENTRIES_V1_PER_FRAME) {
      if (this.#frames.length >= this.#maxFrames) {
        throw new GrantError(
          "ERR_NO_GRANT_REFS",
          `d${this.domid}: all ${this.#maxFrames * GRANT_ENTRIES_V1_PER_FRAME} grant refs are in use ` +
            `(${this.#deferred.length} deferred, ${this.#leaked} leaked)`,
        );
      }
      this.#setup(this.#frames.length + 1);
    }
    return this.#nextRef++;
  }

  #entry(ref: number): [Page, number] {
    return [
      this.#frames[Math.floor(ref / GRANT_ENTRIES_V1_PER_FRAME)]!,
      (ref % GRANT_ENTRIES_V1_PER_FRAME) * GRANT_ENTRY_V1_SIZE,
    ];
  }

  /**
   * `gnttab_end_foreign_access_ref_v1`: clear flags only while neither GTF_reading nor
   * GTF_writing is set, by compare-and-swap. In C the cmpxchg is one atomic instruction; here
   * the compare is a re-read right before the write, and a mismatch (Xen set a bit since we
   * looked) starts over from the new value.
   */
  #tryEnd(ref: number): boolean {
    const [page, off] = this.#entry(ref);
    let seen = page.getU16(off + FLAGS);
    for (let i = 0; i < MAX_CMPXCHG; i++) {
      if ((seen & IN_USE) !== 0) return false;
      const now = page.getU16(off + FLAGS);
      if (now !== seen) {
        seen = now;
        continue;
      }
      page.setU16(off + FLAGS, 0);
      return true;
    }
    return false;
  }

  #release(rec: GrantRecord): void {
    this.#grants.delete(rec.ref);
    this.#freeRefs.push(rec.ref);
    if (rec.held) this.#allocator?.release(rec.gfn);
  }
}
