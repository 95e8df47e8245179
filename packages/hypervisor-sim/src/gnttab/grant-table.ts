/**
 * A domain's grant table, version 1 (`xen/common/grant_table.c`, `struct grant_table`):
 *
 * ```
 * shared frames (guest-visible, real Frames)     Xen-private state
 * +-------------------------------+              +----------------------------------------+
 * | frame 0: entries 0..511       |  ref ------> | active[ref]: pin counters, domid, frame |
 * |   ref r at byte (r % 512) * 8 |              +----------------------------------------+
 * |   { u16 flags; u16 domid;     |              | maptrack: this domain's own mappings   |
 * |     u32 frame }               |              |   of OTHER domains' grants, by handle  |
 * | frame 1: entries 512..1023    |              +----------------------------------------+
 * | ... up to max_grant_frames    |
 * +-------------------------------+
 * ```
 *
 * The table starts at INITIAL_NR_GRANT_FRAMES (1) frame and grows up to the domain's
 * `maxGrantFrames`. Guests write entries into the frames themselves, reaching them at the GFNs
 * setup_table reports (the grant-table window, GNTTAB_GFN_BASE + i) or wherever
 * XENMEM_add_to_physmap put them. Xen-side code reads and writes the entry bytes little-endian.
 *
 * Only v1 is built: each domain's maximum version is 1 (as with `max_grant_version = 1`), so
 * set_version(2) answers -ENOSYS. Reserved refs 0–7 are ordinary entries for map and copy.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { isU32 } from "../abi/struct.js";
import { GNTMAP, GNTST, GTF, INITIAL_NR_GRANT_FRAMES } from "../abi/grant-table.js";
import { GRANT_ENTRIES_V1_PER_FRAME, GRANT_ENTRY_V1_SIZE } from "../abi/grant-entry.js";
import type { Domain } from "../domain/domain.js";
import type { XenContext } from "../xen-context.js";
import type { Frame } from "../memory/frame.js";
import { GNTTAB_GFN_BASE } from "../memory/physmap.js";
import { removeBeforeXenPage } from "../memory/physmap-ops.js";
import {
  type ActiveEntry,
  GNTPIN_devr_inc,
  GNTPIN_devw_inc,
  GNTPIN_hstr_inc,
  GNTPIN_hstw_inc,
  hasWritePins,
  pinCounter,
  settleEntry,
} from "./active-entry.js";
import { Maptrack } from "./maptrack.js";

const { EINVAL } = XEN_ERRNO;

/** log2(GRANT_ENTRIES_V1_PER_FRAME): a ref's frame is `ref >>> 9`, its slot `ref & 511`. */
const ENTRIES_PER_FRAME_SHIFT = Math.log2(GRANT_ENTRIES_V1_PER_FRAME);

/** Byte offset of v1 entry `ref` (a u32) within its shared frame. */
function entryOffset(ref: number): number {
  return (ref & (GRANT_ENTRIES_V1_PER_FRAME - 1)) * GRANT_ENTRY_V1_SIZE;
}

/** Pin counts of one grant ref, for tests and sanitizers (Xen keeps them private). */
export interface GrantPins {
  hostRead: number;
  hostWrite: number;
  devRead: number;
  devWrite: number;
}

export class GrantTable {
  /** This domain's mappings of other domains' grants (its `maptrack`). */
  readonly maptrack: Maptrack;
  readonly #frames: Frame[] = [];
  /** Where each shared frame sits in the domain's physmap, as last placed (validated on read). */
  readonly #frameGfn: (number | undefined)[] = [];
  /**
   * `active[ref]`, indexed by ref like Xen's active table. An entry, once created, stays for the
   * table's lifetime and is reused by every later pin (a busy copy path pins and unpins a ref per
   * element); `pin === 0` is what makes it inactive.
   */
  readonly #active: (ActiveEntry | undefined)[] = [];
  #mappedByOthers = 0;

  constructor(
    readonly domain: Domain,
    readonly hv: XenContext,
  ) {
    this.maptrack = new Maptrack(domain.options.maxMaptrackFrames);
    this.grow(INITIAL_NR_GRANT_FRAMES);
  }

  /** The grant-table version in effect (`gt_version`): always 1. */
  get version(): number {
    return 1;
  }

  /** The highest version this domain may select (`max_version`): 1. */
  get maxVersion(): number {
    return 1;
  }

  /** Shared frames allocated (`nr_grant_frames`). */
  get nrFrames(): number {
    return this.#frames.length;
  }

  /** `max_grant_frames` of this domain. */
  get maxFrames(): number {
    return this.domain.options.maxGrantFrames;
  }

  /** `nr_grant_entries()`: valid refs are 0..nrEntries-1. */
  get nrEntries(): number {
    return this.#frames.length * GRANT_ENTRIES_V1_PER_FRAME;
  }

  /**
   * `gnttab_grow_table()`: allocate shared frames up to `req` (at least INITIAL_NR_GRANT_FRAMES).
   * Returns false, changing nothing, if `req` exceeds the maximum.
   */
  grow(req: number): boolean {
    const want = Math.max(req, INITIAL_NR_GRANT_FRAMES);
    if (want > this.maxFrames) return false;
    while (this.#frames.length < want) {
      this.#frames.push(this.hv.machine.alloc(this.domain.domid));
      this.#frameGfn.push(undefined);
      // Room for the new frame's active entries, so `#active` stays a dense array.
      for (let i = 0; i < GRANT_ENTRIES_V1_PER_FRAME; i++) this.#active.push(undefined);
    }
    return true;
  }

  /** Shared frame `i`, or undefined beyond nrFrames. */
  frame(i: number): Frame | undefined {
    return this.#frames[i];
  }

  // ---- shared entries (v1) ------------------------------------------------------------------

  /** The DataView of the shared frame holding entry `ref`. @throws RangeError beyond the table. */
  #dv(ref: number): DataView {
    // Integer shifts rather than Math.floor(ref / 512): this runs several times per copy element.
    const f = ref >>> 0 === ref ? this.#frames[ref >>> ENTRIES_PER_FRAME_SHIFT] : undefined;
    if (f === undefined) throw new RangeError(`grant ref ${ref} outside ${this.nrEntries} entries`);
    return f.dv;
  }

  /** The entry's `flags` (u16) as the guest last wrote it. */
  entryFlags(ref: number): number {
    return this.#dv(ref).getUint16(entryOffset(ref), true);
  }

  /** The entry's `domid` (u16, the grantee). */
  entryDomid(ref: number): number {
    return this.#dv(ref).getUint16(entryOffset(ref) + 2, true);
  }

  /** The entry's `frame` (u32, a GFN of this domain). */
  entryFrame(ref: number): number {
    return this.#dv(ref).getUint32(entryOffset(ref) + 4, true);
  }

  /** `gnttab_clear_flags()`: an atomic AND of `~mask` into the entry's flags. */
  clearFlags(ref: number, mask: number): void {
    const dv = this.#dv(ref);
    const off = entryOffset(ref);
    dv.setUint16(off, dv.getUint16(off, true) & ~mask & 0xffff, true);
  }

  /** swap_grant_ref's exchange of two whole 8-byte entries. */
  swapEntries(a: number, b: number): void {
    const dva = this.#dv(a);
    const offa = entryOffset(a);
    const dvb = this.#dv(b);
    const offb = entryOffset(b);
    const ea = dva.getBigUint64(offa, true);
    dva.setBigUint64(offa, dvb.getBigUint64(offb, true), true);
    dvb.setBigUint64(offb, ea, true);
  }

  /**
   * `_set_status_v1()`: on the first pin (or first writable pin), check and set the entry's
   * GTF_reading (and GTF_writing unless `readonly`) in one compare-and-swap of flags+domid.
   * Unpinned entries must be permit_access (GTF_sub_page clear when `mapflag`) naming `ldomid`;
   * a writable pin of a GTF_readonly entry is refused. In one thread the cmpxchg cannot lose a
   * race, so Xen's bound of 5 retries is never reached. Returns a GNTST_* code.
   */
  setStatus(
    ref: number,
    act: ActiveEntry,
    readonly: boolean,
    mapflag: boolean,
    ldomid: number,
  ): number {
    const dv = this.#dv(ref);
    const off = entryOffset(ref);
    const flags = dv.getUint16(off, true);
    const domid = dv.getUint16(off + 2, true);
    const mask = GTF.GTF_type_mask | (mapflag ? GTF.GTF_sub_page : 0);
    if (act.pin === 0 && ((flags & mask) !== GTF.GTF_permit_access || domid !== ldomid)) {
      return GNTST.GNTST_general_error;
    }
    let next = flags | GTF.GTF_reading;
    if (!readonly) {
      next |= GTF.GTF_writing;
      if ((flags & GTF.GTF_readonly) !== 0) return GNTST.GNTST_general_error;
    }
    dv.setUint16(off, next, true);
    return GNTST.GNTST_okay;
  }

  /**
   * `reduce_status_for_pin()`: after pins dropped, clear GTF_writing if this was a writable pin
   * and no writable pin remains, and GTF_reading once no pin remains (XSA-230: never earlier).
   */
  reduceStatusForPin(ref: number, act: ActiveEntry, readonly: boolean): void {
    let clear = act.pin === 0 ? GTF.GTF_reading : 0;
    if (!readonly && !hasWritePins(act.pin)) clear |= GTF.GTF_writing;
    if (clear !== 0) this.clearFlags(ref, clear);
  }

  // ---- active entries -------------------------------------------------------------------------

  /** `active_entry_acquire()`: the active entry of `ref` (unpinned if nothing holds it). */
  active(ref: number): ActiveEntry {
    let act = this.#active[ref];
    if (act === undefined) {
      act = { pin: 0, domid: 0, frame: undefined, gfn: 0 };
      this.#active[ref] = act;
    }
    return act;
  }

  /**
   * `active_entry_release()`: an entry left with no pins forgets its frame (so nothing keeps a
   * stale Frame reachable); the entry object itself is kept for the next pin.
   */
  settle(ref: number): void {
    const act = this.#active[ref];
    if (act !== undefined) settleEntry(act);
  }

  /** Whether `ref` holds any pin (map or in-flight copy). */
  isPinned(ref: number): boolean {
    return (this.#active[ref]?.pin ?? 0) !== 0;
  }

  /** Every pinned ref with its active entry, in ascending ref order. */
  *pinned(): Generator<[number, ActiveEntry]> {
    const all = this.#active;
    for (let ref = 0; ref < all.length; ref++) {
      const act = all[ref];
      if (act !== undefined && act.pin !== 0) yield [ref, act];
    }
  }

  /** The pin counters of `ref` (all 0 when unpinned). For tests and sanitizers. */
  pins(ref: number): GrantPins {
    const pin = this.#active[ref]?.pin ?? 0;
    return {
      hostRead: pinCounter(pin, GNTPIN_hstr_inc),
      hostWrite: pinCounter(pin, GNTPIN_hstw_inc),
      devRead: pinCounter(pin, GNTPIN_devr_inc),
      devWrite: pinCounter(pin, GNTPIN_devw_inc),
    };
  }

  /**
   * `unmap_common_complete()` for one mapping: drop the pins of the halves in `done`
   * (GNTMAP_host_map / GNTMAP_device_map, plus GNTMAP_readonly if the mapping was read-only)
   * and reduce GTF_reading / GTF_writing to match.
   */
  unpin(ref: number, done: number): void {
    const act = this.active(ref);
    const ro = (done & GNTMAP.GNTMAP_readonly) !== 0;
    if ((done & GNTMAP.GNTMAP_device_map) !== 0)
      act.pin = (act.pin - (ro ? GNTPIN_devr_inc : GNTPIN_devw_inc)) >>> 0;
    if ((done & GNTMAP.GNTMAP_host_map) !== 0)
      act.pin = (act.pin - (ro ? GNTPIN_hstr_inc : GNTPIN_hstw_inc)) >>> 0;
    this.reduceStatusForPin(ref, act, ro);
    this.settle(ref);
  }

  // ---- placement in the guest physmap ------------------------------------------------------

  /** The GFN where shared frame `i` currently sits in this domain's physmap, if anywhere. */
  frameGfn(i: number): number | undefined {
    const gfn = this.#frameGfn[i];
    if (gfn === undefined) return undefined;
    const pm = this.domain.physmap;
    if (pm.kindAt(gfn) === "grant-table" && pm.frame(gfn) === this.#frames[i]) return gfn;
    this.#frameGfn[i] = undefined; // something replaced it (add_to_physmap of another page)
    return undefined;
  }

  /**
   * For setup_table: make shared frame `i` visible, at its current GFN or else at the window
   * GFN GNTTAB_GFN_BASE + i. Returns the GFN, or undefined if that window slot is taken.
   */
  placeFrame(i: number): number | undefined {
    const cur = this.frameGfn(i);
    if (cur !== undefined) return cur;
    const gfn = GNTTAB_GFN_BASE + i;
    if (this.domain.physmap.insert(gfn, this.#frames[i]!, "grant-table", true) === undefined)
      return undefined;
    this.#frameGfn[i] = gfn;
    return gfn;
  }

  /**
   * XENMEM_add_to_physmap with XENMAPSPACE_grant_table (`gnttab_map_frame_begin` +
   * `xenmem_add_to_physmap_one`): place shared frame `idx` at `gpfn`, growing the table to
   * idx+1 frames if the maximum allows (even if the placing then fails, as gnttab_map_frame
   * grows the table first). A Xen page already at `gpfn` is unhooked, RAM there is freed
   * (`guest_remove_page`), and the frame leaves its previous GFN. Returns 0, -EINVAL when `idx` is
   * beyond the maximum, or -ENXIO when `gpfn` holds a grant mapping or a gmfn_foreign mapping of
   * RAM (`removeBeforeXenPage`).
   */
  addToPhysmap(idx: number, gpfn: number): number {
    if (!isU32(idx)) return -EINVAL;
    if (idx >= this.nrFrames) {
      if (idx + 1 <= this.maxFrames) this.grow(idx + 1);
      if (idx >= this.nrFrames) return -EINVAL;
    }
    const frame = this.#frames[idx]!;
    const pm = this.domain.physmap;
    const old = this.frameGfn(idx);
    if (old === gpfn) return 0;
    const rc = removeBeforeXenPage(pm, gpfn);
    if (rc !== 0) return rc;
    if (old !== undefined) pm.remove(old);
    if (pm.insert(gpfn, frame, "grant-table", true) === undefined) return -EINVAL;
    this.#frameGfn[idx] = gpfn;
    return 0;
  }

  // ---- lifetime ------------------------------------------------------------------------------

  /** Live mappings other domains hold of this domain's grants (keeps a dying domain around). */
  get mappedByOthers(): number {
    return this.#mappedByOthers;
  }

  /** Another domain gained (+1) or dropped (-1) a mapping of one of our grants. */
  noteForeignMapping(delta: 1 | -1): void {
    this.#mappedByOthers += delta;
  }

  /**
   * `gnttab_release_mappings()`, on destruction of this domain: every mapping it holds is
   * dropped — pins and GTF bits in the granters, the physmap entry here — and dying granters
   * that nobody maps any more are finalised.
   */
  releaseMappings(): void {
    const dying: Domain[] = [];
    for (const [handle, m] of this.maptrack.entriesDescending()) {
      const done =
        m.flags & (GNTMAP.GNTMAP_host_map | GNTMAP.GNTMAP_device_map | GNTMAP.GNTMAP_readonly);
      if (m.hostGfn !== undefined) this.domain.physmap.remove(m.hostGfn);
      m.granter.unpin(m.ref, done);
      m.flags = 0;
      this.maptrack.put(handle);
      if (m.granter !== this) {
        m.granter.noteForeignMapping(-1);
        if (m.granter.domain.isDying) dying.push(m.granter.domain);
      }
    }
    for (const d of dying) this.hv.maybeFinaliseDomain(d);
  }
}
