/**
 * A domain's guest-physical address space (its p2m), by GFN:
 *
 * ```
 * GFN 0 .. nr_pages-1          RAM, allocated lazily on first touch
 * GFN nr_pages ..              holes: foreign grant mappings (host_addr >> 12) and
 *                              Xen pages placed with XENMEM_add_to_physmap
 * GFN GNTTAB_GFN_BASE + i      grant-table frame i once set up (like Arm's GUEST_GNTTAB_BASE)
 * ```
 */
import { type Frame, type MachineMemory } from "./frame.js";
import { type Page, PageView, type ReadonlyPage } from "./page.js";

/** First GFN of the grant-table window (0x38000000 >> 12, as Arm's GUEST_GNTTAB_BASE). */
export const GNTTAB_GFN_BASE = 0x38000;

/**
 * What sits at a non-RAM GFN: a Xen page, a grant mapping ("foreign"), a grant-table frame, or
 * another domain's frame mapped by a privileged domain ("foreign-gmfn").
 */
export type PhysmapKind = "xen" | "foreign" | "grant-table" | "foreign-gmfn";

interface Slot {
  frame: Frame;
  view: PageView;
  kind: PhysmapKind;
}

/** A domain's physmap. Xen-side code uses `frame()`; the guest uses `page()`. */
export class Physmap {
  /**
   * RAM slots by GFN, created on first touch. An array rather than a Map: every grant copy
   * looks up a frame, and an indexed load is several times cheaper than a Map lookup. RAM GFNs
   * are small and mostly touched from the bottom up, so the array stays in V8's fast mode.
   */
  readonly #ram: (Slot | undefined)[] = [];
  #populated = 0;
  /**
   * How many `#other` entries sit at RAM GFNs (shadowing the RAM page there). While there are
   * none — the usual case — a RAM lookup skips the `#other` Map.
   */
  #shadowing = 0;
  readonly #other = new Map<number, Slot>();
  readonly #machine: MachineMemory;
  readonly #domid: number;
  #dead = false;

  constructor(
    domid: number,
    /** RAM size in 4 KiB pages. */
    readonly nrPages: number,
    machine: MachineMemory,
  ) {
    if (!Number.isInteger(nrPages) || nrPages < 1 || nrPages > GNTTAB_GFN_BASE) {
      throw new RangeError(`nr_pages ${nrPages} outside 1..${GNTTAB_GFN_BASE}`);
    }
    this.#domid = domid;
    this.#machine = machine;
  }

  /** Whether `gfn` is a RAM GFN of this domain. */
  isRam(gfn: number): boolean {
    // `gfn >>> 0 === gfn` holds exactly for the integers 0..2^32-1, and nrPages is far below 2^32.
    return gfn >>> 0 === gfn && gfn < this.nrPages;
  }

  #slot(gfn: number): Slot | undefined {
    if (this.#dead) return undefined;
    if (!this.isRam(gfn)) return this.#other.get(gfn);
    if (this.#shadowing !== 0) {
      const other = this.#other.get(gfn);
      if (other !== undefined) return other;
    }
    return this.#ram[gfn] ?? this.#populate(gfn);
  }

  /** First touch of RAM GFN `gfn`: allocate its frame. */
  #populate(gfn: number): Slot {
    const frame = this.#machine.alloc(this.#domid);
    const s: Slot = { frame, view: new PageView(frame, true, `d${this.#domid} gfn ${gfn.toString(16)}`), kind: "xen" };
    this.#ram[gfn] = s;
    this.#populated++;
    return s;
  }

  /**
   * Xen-side: the frame at `gfn` unless `gfn` is a hole or holds a foreign (grant) mapping —
   * what `get_paged_frame()` accepts. One lookup where `kindAt()` + `frame()` would take three.
   */
  ownFrame(gfn: number): Frame | undefined {
    const s = this.#slot(gfn);
    return s === undefined || s.kind === "foreign" ? undefined : s.frame;
  }

  /** Xen-side: the frame at `gfn`, or undefined for a hole. */
  frame(gfn: number): Frame | undefined {
    return this.#slot(gfn)?.frame;
  }


  /**
   * Guest-side: the page at `gfn`. A RAM or writable page is a `Page`; a read-only foreign mapping
   * a `ReadonlyPage` (narrow on `.writable`).
   * @throws RangeError when nothing is mapped at `gfn` (a hole: Xen would fault the access).
   */
  page(gfn: number): Page | ReadonlyPage {
    const s = this.#slot(gfn);
    if (s === undefined) throw new RangeError(`d${this.#domid}: nothing mapped at gfn 0x${gfn.toString(16)}`);
    return s.view;
  }

  /** Guest-side: a RAM or writable page; throws if `gfn` is a read-only mapping or a hole. */
  writablePage(gfn: number): Page {
    const p = this.page(gfn);
    if (!p.writable) throw new RangeError(`d${this.#domid}: gfn 0x${gfn.toString(16)} is mapped read-only`);
    return p as Page;
  }

  /** Whether `gfn` is neither RAM nor mapped: free for a grant mapping. */
  isHole(gfn: number): boolean {
    return !this.isRam(gfn) && !this.#other.has(gfn) && Number.isInteger(gfn) && gfn >= 0;
  }

  /**
   * Xen-side: place `frame` at `gfn` (a hole, or a RAM GFN it then shadows, as Xen's
   * add_to_physmap replaces the RAM page). Returns the view, or undefined if something other
   * than RAM is already mapped there.
   */
  insert(gfn: number, frame: Frame, kind: PhysmapKind, writable: boolean): PageView | undefined {
    if (this.#dead || this.#other.has(gfn) || !Number.isInteger(gfn) || gfn < 0) return undefined;
    const view = new PageView(frame, writable, `d${this.#domid} ${kind} gfn 0x${gfn.toString(16)}`);
    this.#other.set(gfn, { frame, view, kind });
    if (this.isRam(gfn)) this.#shadowing++;
    return view;
  }

  /** Xen-side: remove what `insert` placed at `gfn`; its view dies. Returns whether anything was there. */
  remove(gfn: number): boolean {
    const s = this.#other.get(gfn);
    if (s === undefined) return false;
    s.view.kill();
    this.#other.delete(gfn);
    if (this.isRam(gfn)) this.#shadowing--;
    return true;
  }

  /** Xen-side: the kind of thing at a non-RAM `gfn`. */
  kindAt(gfn: number): PhysmapKind | undefined {
    return this.#other.get(gfn)?.kind;
  }

  /** RAM frames touched so far. */
  get populated(): number {
    return this.#populated;
  }


  /** On domain destruction: every view dies. Frames stay alive for other domains mapping them. */
  teardown(): void {
    this.#dead = true;
    for (const s of this.#ram) s?.view.kill();
    for (const s of this.#other.values()) s.view.kill();
    this.#ram.length = 0;
    this.#populated = 0;
    this.#shadowing = 0;
    this.#other.clear();
  }
}
