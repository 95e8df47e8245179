/**
 * The FIFO event ABI's per-domain state and port operations (`xen/common/event_fifo.c`, 4.17):
 * the event array (guest pages of 1024 u32 event words), one control block and 16 queues per
 * vCPU, and the raise / unmask / clear / query operations acting on the real guest bytes.
 *
 * Event word (u32): PENDING bit 31, MASKED 30, LINKED 29, BUSY 28, LINK bits 0..16.
 * Control block (72 bytes at `offset` in its page): ready u32 @0, _rsvd u32 @4, head[16] u32 @8.
 *
 * Xen's view of every page is the guest's Frame itself, kept from the moment it is registered:
 * like Xen's page reference, it survives the guest moving or removing the GFN.
 */
import {
  EVTCHN_FIFO_BUSY,
  EVTCHN_FIFO_LINK_MASK,
  EVTCHN_FIFO_LINKED,
  EVTCHN_FIFO_MASKED,
  EVTCHN_FIFO_MAX_QUEUES,
  EVTCHN_FIFO_PENDING,
} from "../abi/event-channel.js";
import {
  EVTCHN_FIFO_CONTROL_BLOCK_SIZE,
  evtchn_fifo_control_block_layout,
} from "../abi/evtchn-structs.js";
import { VCPU_INFO_UPCALL_PENDING } from "../abi/shared-info.js";
import type { Frame } from "../memory/frame.js";
import type { PortTable } from "./port-table.js";
import type { TwoLevelTarget } from "./two-level.js";

// Event word bits as masks. Compare with `!== 0`: bit 31 reads back negative as an int32.
/** Event word mask of PENDING (bit 31). */
export const FIFO_PENDING = 1 << EVTCHN_FIFO_PENDING;
/** Event word mask of MASKED (bit 30). */
export const FIFO_MASKED = 1 << EVTCHN_FIFO_MASKED;
/** Event word mask of LINKED (bit 29). */
export const FIFO_LINKED = 1 << EVTCHN_FIFO_LINKED;
/** Event word mask of BUSY (bit 28). */
export const FIFO_BUSY = 1 << EVTCHN_FIFO_BUSY;

/** `evtchn_fifo_control_block.ready`: byte offset (u32). */
export const FIFO_CB_READY = evtchn_fifo_control_block_layout.ready[0];
/** `evtchn_fifo_control_block.head[0]`: byte offset (16 × u32). */
export const FIFO_CB_HEAD = evtchn_fifo_control_block_layout.head[0];
/** `sizeof(struct evtchn_fifo_control_block)`: 72 bytes; init_control's offset is at most 4096 − 72. */
export const FIFO_CB_SIZE = EVTCHN_FIFO_CONTROL_BLOCK_SIZE;

/**
 * What a FIFO raise did, for the trace: "no-page" (remembered until expand_array adds the page),
 * "dropped" (the vCPU has no control block), "masked" (PENDING only), "coalesced" (already
 * LINKED), "queued" (linked behind the old tail), "ready" (written as head; the ready bit or
 * upcall_pending was already set), "upcall" (ready bit and upcall_pending went 0 → 1: kick).
 */
export type FifoRaiseOutcome =
  | "no-page"
  | "dropped"
  | "masked"
  | "coalesced"
  | "queued"
  | "ready"
  | "upcall";

/** Outcome names by the code `FifoEvents.setPending` returns (its low bits; see FIFO_RAISE_OUTCOME_MASK). */
export const FIFO_RAISE_OUTCOMES: readonly FifoRaiseOutcome[] = [
  "no-page",
  "dropped",
  "masked",
  "coalesced",
  "queued",
  "ready",
  "upcall",
];
const NO_PAGE = 0;
const DROPPED = 1;
const MASKED = 2;
const COALESCED = 3;
const QUEUED = 4;
const READY = 5;
/** Outcome code: the vCPU's upcall_pending went 0 → 1; the caller kicks it. */
export const FIFO_RAISE_UPCALL = 6;
/** Flag in the result of `setPending`: PENDING was clear, so pollers of the port must be checked. */
export const FIFO_RAISE_POLL = 0x10;
/** Mask extracting the outcome code from the result of `setPending`. */
export const FIFO_RAISE_OUTCOME_MASK = 0x0f;

/** A vCPU's FIFO state (`struct evtchn_fifo_vcpu`): its control block and queue tails. */
export class FifoVcpu {
  /** The control block's page, once init_control registered it for this vCPU. */
  control: Frame | undefined;
  /** Byte offset of the control block in `control`. */
  offset = 0;
  /** `queue[q].tail` per priority: the last port Xen linked (0 = none known). */
  readonly tail = new Uint32Array(EVTCHN_FIFO_MAX_QUEUES);
}

/**
 * A FIFO domain's event array and per-vCPU queues (`struct evtchn_fifo_domain` plus every
 * `struct evtchn_fifo_vcpu`). Created by the first successful EVTCHNOP_init_control and dropped
 * by EVTCHNOP_reset or domain destruction (`evtchn_fifo_destroy`).
 */
export class FifoEvents {
  /** Event-array pages in slot order; port p is word p % 1024 of page p / 1024. */
  readonly pages: Frame[] = [];
  /** `num_evtchns`: ports with an event word (pages × 1024). */
  numEvtchns = 0;
  /** Per-vCPU state, by vCPU id. */
  readonly vcpus: FifoVcpu[];
  readonly #table: PortTable;

  /** Fresh FIFO state for a domain with `nrVcpus` vCPUs (`setup_control_block` + `setup_event_array`): no pages, no blocks. */
  constructor(table: PortTable, nrVcpus: number) {
    this.#table = table;
    this.vcpus = Array.from({ length: nrVcpus }, () => new FifoVcpu());
  }

  /** The event word of `port`, or undefined when its page is missing (`evtchn_fifo_word_from_port`). */
  word(port: number): number | undefined {
    if (!(port < this.numEvtchns)) return undefined;
    return this.pages[port >>> 10]!.dv.getUint32((port & 1023) << 2, true);
  }

  #frame(port: number): Frame {
    return this.pages[port >>> 10]!;
  }

  /**
   * `evtchn_fifo_set_pending()` for `port` on vCPU `v` (its notify vCPU), in 4.17's order:
   * page missing → remember and stop; no control block → drop; test_and_set PENDING; if not
   * MASKED and test_and_set LINKED was clear, link at the tail of queue [v][priority], writing
   * `head[q]` only into an empty queue; then, only if `head[q]` was written, test_and_set ready
   * bit q and on 0 → 1 mark upcall_pending. Returns an outcome code (FIFO_RAISE_OUTCOMES index),
   * OR-ed with FIFO_RAISE_POLL when PENDING was clear. Allocates nothing.
   *
   * Xen guards the tail update with a cmpxchg and, when the guest races it, sets BUSY on the old
   * tail and retries. In this single-threaded simulator the guest cannot run inside a raise, so
   * the first cmpxchg always succeeds and BUSY is never left set.
   */
  setPending(v: TwoLevelTarget & { readonly id: number }, port: number): number {
    const t = this.#table;
    if (!(port < this.numEvtchns)) {
      t.fifoPending[port] = 1;
      return NO_PAGE;
    }
    const fv = this.vcpus[v.id]!;
    const cb = fv.control;
    // Xen locks the current queue and the one the port was last linked on; the control-block
    // check comes before PENDING is touched, so a dropped event leaves the word unchanged.
    if (cb === undefined) return DROPPED;
    const dv = this.#frame(port).dv;
    const at = (port & 1023) << 2;
    const w = dv.getUint32(at, true);
    const poll = (w & FIFO_PENDING) === 0 ? FIFO_RAISE_POLL : 0;
    if ((w & FIFO_MASKED) !== 0) {
      dv.setUint32(at, (w | FIFO_PENDING) >>> 0, true);
      return MASKED | poll;
    }
    if ((w & FIFO_LINKED) !== 0) {
      dv.setUint32(at, (w | FIFO_PENDING) >>> 0, true);
      return COALESCED | poll;
    }
    dv.setUint32(at, (w | FIFO_PENDING | FIFO_LINKED) >>> 0, true);
    const q = t.priority[port]!;
    // A port that was the tail of the queue it was last linked on leaves that queue empty (from
    // Xen's side): forget the tail so linking elsewhere cannot corrupt it.
    const oldV = this.vcpus[t.lastVcpu[port]!]!;
    const oldQ = t.lastPriority[port]!;
    if (oldV.tail[oldQ] === port) oldV.tail[oldQ] = 0;
    t.lastVcpu[port] = v.id;
    t.lastPriority[port] = q;
    const tail = fv.tail[q]!;
    fv.tail[q] = port;
    if (tail !== 0 && this.#setLink(tail, port)) return QUEUED | poll;
    cb.dv.setUint32(fv.offset + FIFO_CB_HEAD + 4 * q, port, true);
    const rAt = fv.offset + FIFO_CB_READY;
    const ready = cb.dv.getUint32(rAt, true);
    if ((ready & (1 << q)) !== 0) return READY | poll;
    cb.dv.setUint32(rAt, (ready | (1 << q)) >>> 0, true);
    // vcpu_mark_events_pending(): test_and_set upcall_pending; on 0 → 1 the caller kicks.
    const up = v.vcpuInfoOffset + VCPU_INFO_UPCALL_PENDING;
    const was = v.vcpuInfo[up]!;
    if ((was & 1) !== 0) return READY | poll;
    v.vcpuInfo[up] = was | 1;
    return FIFO_RAISE_UPCALL | poll;
  }

  /**
   * `evtchn_fifo_set_link()`: put `port` into the LINK field of `tail`'s word iff that word is
   * still LINKED (clearing BUSY with it). Returns false when the guest already unlinked the tail,
   * meaning the queue is empty and the caller writes `head[q]`.
   */
  #setLink(tail: number, port: number): boolean {
    const dv = this.#frame(tail).dv;
    const at = (tail & 1023) << 2;
    const w = dv.getUint32(at, true);
    if ((w & FIFO_LINKED) === 0) return false;
    dv.setUint32(at, ((w & ~(FIFO_BUSY | EVTCHN_FIFO_LINK_MASK)) | port) >>> 0, true);
    return true;
  }

  /** `evtchn_fifo_clear_pending()`: clear PENDING only; a LINKED word stays linked (busy). */
  clearPending(port: number): void {
    if (!(port < this.numEvtchns)) return;
    const dv = this.#frame(port).dv;
    const at = (port & 1023) << 2;
    dv.setUint32(at, (dv.getUint32(at, true) & ~FIFO_PENDING) >>> 0, true);
  }

  /**
   * `evtchn_fifo_unmask()`, first half: clear MASKED. Returns true when the word is PENDING, so
   * the caller raises it again on the notify vCPU (linking it). False when the page is missing.
   */
  unmask(port: number): boolean {
    if (!(port < this.numEvtchns)) return false;
    const dv = this.#frame(port).dv;
    const at = (port & 1023) << 2;
    const w = dv.getUint32(at, true) & ~FIFO_MASKED;
    dv.setUint32(at, w >>> 0, true);
    return (w & FIFO_PENDING) !== 0;
  }

  /** `evtchn_fifo_is_pending()`: the page exists and PENDING is set. */
  isPending(port: number): boolean {
    const w = this.word(port);
    return w !== undefined && (w & FIFO_PENDING) !== 0;
  }

  /** `evtchn_fifo_is_masked()`: a port without a page counts as masked. */
  isMasked(port: number): boolean {
    const w = this.word(port);
    return w === undefined || (w & FIFO_MASKED) !== 0;
  }

  /** `evtchn_fifo_is_busy()`: the word is still LINKED, so the port cannot be reallocated yet. */
  isBusy(port: number): boolean {
    const w = this.word(port);
    return w !== undefined && (w & FIFO_LINKED) !== 0;
  }
}
