/**
 * Xen's `struct active_grant_entry` (`xen/common/grant_table.c`): the hypervisor-private state of
 * one grant ref while it is pinned. The guest never sees it; what the guest sees are the
 * GTF_reading / GTF_writing bits Xen keeps in the shared entry in step with these pin counts.
 *
 * ```
 * pin (u32):  31      24 23      16 15       8 7        0
 *            +----------+----------+----------+----------+
 *            | dev-read | dev-write| host-read|host-write|   four 8-bit counters
 *            +----------+----------+----------+----------+
 * ```
 */
import type { Frame } from "../memory/frame.js";

/** One host-writable pin (`GNTPIN_hstw_inc`). */
export const GNTPIN_hstw_inc = 1 << 0;
/** One host-read-only pin (`GNTPIN_hstr_inc`). */
export const GNTPIN_hstr_inc = 1 << 8;
/** One device-writable pin (`GNTPIN_devw_inc`). */
export const GNTPIN_devw_inc = 1 << 16;
/** One device-read-only pin (`GNTPIN_devr_inc`). */
export const GNTPIN_devr_inc = 1 << 24;
/** `GNTPIN_hstw_mask`. */
export const GNTPIN_hstw_mask = 0xff << 0;
/** `GNTPIN_hstr_mask`. */
export const GNTPIN_hstr_mask = 0xff << 8;
/** `GNTPIN_devw_mask`. */
export const GNTPIN_devw_mask = 0xff << 16;
/** `GNTPIN_devr_mask` (as an unsigned number). */
export const GNTPIN_devr_mask = (0xff << 24) >>> 0;
/** Every writable pin: host-write and dev-write counters. */
export const GNTPIN_write_mask = GNTPIN_hstw_mask | GNTPIN_devw_mask;

/**
 * `GNTPIN_incr2oflow_mask`: the top bit of each counter `incr` would bump. Xen 4.17 refuses a
 * new pin once that bit is set, so each counter holds at most 128 pins.
 */
export function incr2oflowMask(incr: number): number {
  return (incr << 7) >>> 0;
}

/** Whether any writable (host or device) pin is held. */
export function hasWritePins(pin: number): boolean {
  return (pin & GNTPIN_write_mask) !== 0;
}

/** The pin count of one counter (0..255) of a pin word. */
export function pinCounter(pin: number, inc: number): number {
  return Math.floor((pin >>> 0) / inc) & 0xff;
}

/**
 * The active state of one grant ref. `frame` and `domid` are valid only while `pin` is non-zero:
 * they are fixed by the first pin (later changes to the shared entry do not move a pinned grant).
 */
export interface ActiveEntry {
  /** The four 8-bit pin counters. */
  pin: number;
  /** The domain holding the pins (every pin of one entry belongs to one domain). */
  domid: number;
  /** The granted frame, resolved from the entry's `frame` GFN at the first pin. */
  frame: Frame | undefined;
  /**
   * The GFN (in the granter) the entry named when it was last read: at the first pin, and again
   * when a copy upgrades a read pin to a write pin (Xen's debug-only `act->gfn`; `frame` stays).
   */
  gfn: number;
}

/**
 * `active_entry_release()` for an entry in hand: one left with no pins forgets its frame (so
 * nothing keeps a stale Frame reachable); the entry object itself is kept for the next pin.
 */
export function settleEntry(act: ActiveEntry): void {
  if (act.pin === 0) {
    act.domid = 0;
    act.frame = undefined;
    act.gfn = 0;
  }
}
