/**
 * The guest's 2-level event scan, as Linux does it (`drivers/xen/events/events_2l.c`,
 * `evtchn_2l_handle_events`). One call handles one round for one vCPU; the
 * upcall loop around it (clear `evtchn_upcall_pending`, scan, repeat while it became 1 again)
 * is in `event-channels.ts`.
 *
 * Steps of a round:
 * 1. Timer first: this vCPU's VIRQ_TIMER port, if active (pending, unmasked, bound here).
 * 2. Take the selector: exchange `evtchn_pending_sel` with 0. The caller has already written
 *    `evtchn_upcall_pending = 0`; doing it the other way round can lose an event raised between
 *    the two writes (Xen would see upcall_pending still 1 and not kick).
 * 3. Fair scan: resume one past the last port handled on this vCPU (saved word and bit), take
 *    each selector word in turn, wrapping, with active bits = pending & this-vCPU's-ports & ~mask
 *    computed ONCE per word visit, and handle those bits in ascending order. The starting word is
 *    visited twice (first from the saved bit up, later in full); every other word once. Because
 *    the active bits are a snapshot, a low port that re-fires while it is handled waits for the
 *    next visit, so higher ports in the same word are not starved (Mini-OS recomputes after every
 *    port and can starve them).
 */
import { NR_2L_WORDS, type SharedInfoView } from "./shared-info-view.js";

/** Per-vCPU scan state: Linux's `current_word_idx` / `current_bit_idx` and `cpu_evtchn_mask`. */
export class VcpuScanState {
  /** Word the next round starts at. */
  wordIdx = 0;
  /** Bit (within `wordIdx`) the next round starts at. */
  bitIdx = 0;
  /** Ports this vCPU handles: 64 words as 128 u32 halves (bit set = bound to this vCPU). */
  readonly ports = new Uint32Array(NR_2L_WORDS * 2);
  /** This vCPU's VIRQ_TIMER port, 0 if none. */
  timerPort = 0;

  /** Whether `port` is bound to this vCPU. */
  has(port: number): boolean {
    return (this.ports[port >>> 5]! & (1 << (port & 31))) !== 0;
  }

  add(port: number): void {
    this.ports[port >>> 5]! |= 1 << (port & 31);
  }

  remove(port: number): void {
    this.ports[port >>> 5]! &= ~(1 << (port & 31));
  }
}

/** Called for each port the scan finds active, in scan order. */
export type PortHandler = (port: number) => void;

/** Count of trailing zero bits of a non-zero u32. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Lowest set bit at position >= `from` (0..63) of the 64-bit value [lo, hi], or -1. */
export function firstSetFrom(lo: number, hi: number, from: number): number {
  if (from < 32) {
    const l = from === 0 ? lo : (lo >>> from) << from;
    if (l !== 0) return ctz(l);
    return hi !== 0 ? 32 + ctz(hi) : -1;
  }
  const s = from - 32;
  const h = s === 0 ? hi : (hi >>> s) << s;
  return h !== 0 ? 32 + ctz(h) : -1;
}

/** Whether `port` is pending, unmasked and bound to the vCPU of `st`. */
export function portActive(sh: SharedInfoView, st: VcpuScanState, port: number): boolean {
  return st.has(port) && sh.isPending(port) && !sh.isMasked(port);
}

/**
 * One round of the 2-level handler for `vcpu` (steps 1–3 above). `evtchn_upcall_pending` must
 * already be 0. `handle` is called for each active port; it must clear (or mask) the port.
 */
export function scanRound(
  sh: SharedInfoView,
  vcpu: number,
  st: VcpuScanState,
  handle: PortHandler,
): void {
  // 1. The timer port has the highest priority.
  const timer = st.timerPort;
  if (timer !== 0 && portActive(sh, st, timer)) handle(timer);

  // 2. Take the selector (upcall_pending was cleared before this, by the caller).
  let [selLo, selHi] = sh.exchangeSelector(vcpu);

  // 3. Fair scan from where the previous round stopped.
  const startWord = st.wordIdx;
  const startBit = st.bitIdx;
  let word = startWord;
  for (let visit = 0; (selLo | selHi) !== 0; visit++) {
    const w = firstSetFrom(selLo, selHi, word);
    if (w < 0) {
      word = 0; // nothing at or above `word`: wrap around
      continue;
    }
    word = w;
    // Snapshot of this word's active ports for this visit.
    const activeLo = sh.pendingHalf(word, 0) & st.ports[word * 2]! & ~sh.maskHalf(word, 0);
    const activeHi = sh.pendingHalf(word, 1) & st.ports[word * 2 + 1]! & ~sh.maskHalf(word, 1);
    let bit = word === startWord && visit === 0 ? startBit : 0;
    for (;;) {
      const b = firstSetFrom(activeLo, activeHi, bit);
      if (b < 0) break;
      handle(word * 64 + b);
      bit = (b + 1) & 63;
      // The next round starts one past the port just handled.
      st.wordIdx = bit !== 0 ? word : (word + 1) & 63;
      st.bitIdx = bit;
      if (bit === 0) break;
    }
    // The starting word stays for a second, full visit; every other word is done.
    if (word !== startWord || visit !== 0) {
      if (word < 32) selLo &= ~(1 << word);
      else selHi &= ~(1 << (word - 32));
    }
    word = (word + 1) & 63;
  }
}
