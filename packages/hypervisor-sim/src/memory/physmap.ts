/**
 * A domain's guest-physical address space (its p2m), by GFN:
 *
 * ```
 * GFN 0 .. nr_pages-1          RAM, allocated lazily on first touch
 * GFN nr_pages ..              holes: foreign grant mappings (host_addr >> 12) and
 *                              Xen pages placed with XENMEM_add_to_physmap
 * GFN GNTTAB_GFN_BASE + i      grant-table frame i once set up (like Arm's GUEST_GNTTAB_BASE)
 * ```
 *
 * Entries change as Xen's `p2m_add_page` / `p2m_remove_page` change them (xen/arch/x86/mm/p2m.c):
 * placing something at a RAM GFN replaces the RAM page there, and removing any entry — RAM
 * included — leaves a hole; the old RAM page does not come back. Each frame placed as RAM or as a
 * Xen page records its GFN (`Frame.gpfn`, Xen's M2P), so a page that moves can leave its old GFN.
 */
import type { Frame, MachineMemory } from "./frame.js";
import { type Page, PageView, type ReadonlyPage } from "./page.js";

/** First GFN of the grant-table window (0x38000000 >> 12, as Arm's GUEST_GNTTAB_BASE). */
export const GNTTAB_GFN_BASE = 0x38000;

/**
 * What sits at a GFN other than the domain's RAM: a Xen page, a grant mapping ("foreign"), a
 * grant-table frame, or another domain's frame mapped by a privileged domain ("foreign-gmfn").
 */
export type PhysmapKind = "xen" | "foreign" | "grant-table" | "foreign-gmfn";

interface Slot {
  frame: Frame;
  view: PageView;
  /** "ram" for the domain's own RAM page. */
  kind: PhysmapKind | "ram";
}

/**
 * The kinds Xen's p2m calls special (`p2m_is_special`: grant and foreign mappings): their frames
 * are not the domain's own, so `get_paged_frame` refuses them and `p2m_add_page` will not replace
 * them.
 */
function isSpecial(kind: PhysmapKind | "ram"): boolean {
  return kind === "foreign" || kind === "foreign-gmfn";
}

/** A domain's physmap. Xen-side code uses `frame()`; the guest uses `page()`. */
export class Physmap {
  /**
   * Slots at RAM GFNs: undefined while untouched (RAM, allocated on first touch), null once a hole
   * (its RAM page was replaced or removed), else what is there — RAM or anything placed over it.
   * An array rather than a Map: every grant copy looks up a frame, and an indexed load is several
   * times cheaper than a Map lookup. RAM GFNs are small and mostly touched from the bottom up, so
   * the array stays in V8's fast mode.
   */
  readonly #ram: (Slot | null | undefined)[] = [];
  #populated = 0;
  /** Slots at GFNs beyond RAM. */
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

  /** Whether `gfn` lies in this domain's RAM range (0 .. nr_pages-1), whatever is there now. */
  isRam(gfn: number): boolean {
    // `gfn >>> 0 === gfn` holds exactly for the integers 0..2^32-1, and nrPages is far below 2^32.
    return gfn >>> 0 === gfn && gfn < this.nrPages;
  }

  #slot(gfn: number): Slot | undefined {
    if (this.#dead) return undefined;
    if (!this.isRam(gfn)) return this.#other.get(gfn);
    const s = this.#ram[gfn];
    if (s !== undefined) return s ?? undefined;
    return this.#populate(gfn);
  }

  /** First touch of RAM GFN `gfn`: allocate its frame. */
  #populate(gfn: number): Slot {
    const frame = this.#machine.alloc(this.#domid);
    frame.gpfn = gfn;
    const s: Slot = {
      frame,
      view: new PageView(frame, true, this.#domid, undefined, gfn),
      kind: "ram",
    };
    this.#ram[gfn] = s;
    this.#populated++;
    return s;
  }

  /**
   * Xen-side: the frame at `gfn` unless `gfn` is a hole or holds a grant or foreign mapping (a
   * frame of another domain) — what `get_paged_frame()` accepts: the domain's RAM, shared_info,
   * its grant-table frames. One lookup where `kindAt()` + `frame()` would take three.
   */
  ownFrame(gfn: number): Frame | undefined {
    const s = this.#slot(gfn);
    return s === undefined || isSpecial(s.kind) ? undefined : s.frame;
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
    if (s === undefined)
      throw new RangeError(`d${this.#domid}: nothing mapped at gfn 0x${gfn.toString(16)}`);
    return s.view;
  }

  /** Guest-side: a RAM or writable page; throws if `gfn` is a read-only mapping or a hole. */
  writablePage(gfn: number): Page {
    const p = this.page(gfn);
    if (!p.writable)
      throw new RangeError(`d${this.#domid}: gfn 0x${gfn.toString(16)} is mapped read-only`);
    return p as Page;
  }

  /** Whether nothing is mapped at `gfn` (never RAM, or its RAM page is gone): free for a mapping. */
  isHole(gfn: number): boolean {
    if (!Number.isInteger(gfn) || gfn < 0 || this.#dead) return false;
    return this.isRam(gfn) ? this.#ram[gfn] === null : !this.#other.has(gfn);
  }

  /**
   * Xen-side: place `frame` at `gfn`, a hole or a RAM GFN whose RAM page it replaces (that page's
   * view dies and it leaves the M2P; it does not come back when this entry goes). A Xen page
   * ("xen", "grant-table") records `gfn` as its M2P entry. Returns the view, or undefined if
   * anything but RAM is already at `gfn` (the caller removes what it means to replace).
   */
  insert(gfn: number, frame: Frame, kind: PhysmapKind, writable: boolean): PageView | undefined {
    if (this.#dead || !Number.isInteger(gfn) || gfn < 0) return undefined;
    const ram = this.isRam(gfn);
    if (ram) {
      const old = this.#ram[gfn];
      if (old != null && old.kind !== "ram") return undefined;
      if (old != null) this.#unhook(old, gfn);
    } else if (this.#other.has(gfn)) return undefined;
    const view = new PageView(frame, writable, this.#domid, kind, gfn);
    const s: Slot = { frame, view, kind };
    if (ram) this.#ram[gfn] = s;
    else this.#other.set(gfn, s);
    if (kind === "xen" || kind === "grant-table") {
      frame.gpfn = gfn;
      frame.xenPage = true;
    }
    return view;
  }

  /**
   * Xen-side (`p2m_remove_page`): remove whatever is at `gfn`, RAM included, leaving a hole; its
   * view dies. A RAM page removed this way is not freed (it still counts in `populated`; `free`
   * frees). Returns whether anything was there.
   */
  remove(gfn: number): boolean {
    if (this.#dead || !Number.isInteger(gfn) || gfn < 0) return false;
    if (this.isRam(gfn)) {
      const s = this.#ram[gfn];
      if (s === null) return false;
      if (s !== undefined) this.#unhook(s, gfn);
      this.#ram[gfn] = null;
      return true;
    }
    const s = this.#other.get(gfn);
    if (s === undefined) return false;
    this.#unhook(s, gfn);
    this.#other.delete(gfn);
    return true;
  }

  /**
   * Xen-side, `guest_remove_page()` (xen/common/memory.c) of the domain's own RAM page at `gfn`:
   * like `remove`, but the page is also freed (`put_page_alloc_ref` + `put_page`), so it no longer
   * counts in `populated` (Xen's `tot_pages`). An untouched RAM GFN was never allocated: it just
   * becomes a hole. Returns false, changing nothing, if `gfn` is not a RAM GFN holding RAM.
   */
  free(gfn: number): boolean {
    if (this.#dead || !this.isRam(gfn)) return false;
    const s = this.#ram[gfn];
    if (s === null || (s !== undefined && s.kind !== "ram")) return false;
    if (s !== undefined) {
      this.#unhook(s, gfn);
      this.#populated--;
    }
    this.#ram[gfn] = null;
    return true;
  }

  /**
   * The slot leaves `gfn`: its view dies and, for the domain's own page whose M2P names `gfn`,
   * that entry goes (a grant or foreign mapping's frame has its M2P in its owner's physmap).
   */
  #unhook(s: Slot, gfn: number): void {
    s.view.kill();
    if (!isSpecial(s.kind) && s.frame.gpfn === gfn) s.frame.gpfn = -1;
  }

  /**
   * Xen-side: the GFN where this physmap holds `frame` as its RAM or a Xen page (the M2P entry),
   * or undefined.
   */
  gfnOf(frame: Frame): number | undefined {
    const gfn = frame.gpfn;
    if (gfn < 0 || frame.owner !== this.#domid || this.#slot(gfn)?.frame !== frame)
      return undefined;
    return gfn;
  }

  /** Xen-side: what is at `gfn` if it is neither the domain's RAM nor a hole. */
  kindAt(gfn: number): PhysmapKind | undefined {
    const s = this.isRam(gfn) ? this.#ram[gfn] : this.#other.get(gfn);
    return s == null || s.kind === "ram" ? undefined : s.kind;
  }

  /**
   * RAM frames the domain holds: touched so far (RAM is allocated on first touch), less those
   * `free`d. What XENMEM_current_reservation reports (Xen's `domain_tot_pages`). A RAM page
   * replaced by a grant mapping (`p2m_add_page`) or removed with XENMEM_remove_from_physmap is
   * not freed in Xen — it stays allocated to the domain, out of its physmap — so it still counts.
   */
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
    this.#other.clear();
  }
}
