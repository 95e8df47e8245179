/**
 * The guest's accessors for the 2-level event bits in its mapped shared_info page
 * (`xen/include/public/xen.h` `struct shared_info` / `struct vcpu_info`, x86_64).
 *
 * ```
 *  0x000  vcpu_info[i] at i*64:  +0 evtchn_upcall_pending (u8)
 *                                +1 evtchn_upcall_mask    (u8)
 *                                +8 evtchn_pending_sel    (u64, read as two u32 halves)
 *  0x800  evtchn_pending[64] (u64)   port p: bit p%64 of word p/64 (byte 0x800 + p/8, bit p%8)
 *  0xA00  evtchn_mask[64]    (u64)   same addressing
 * ```
 *
 * A 64-bit word is handled as two u32 halves (`lo` = bits 0..31, `hi` = bits 32..63), which is
 * the little-endian memory order. All of this runs on the guest's single thread, so a
 * read-then-write stands for the atomic bit operations a real kernel uses; the order of the
 * writes is still the order Linux performs them in.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import {
  SHINFO_EVTCHN_MASK,
  SHINFO_EVTCHN_PENDING,
  VCPU_INFO_PENDING_SEL,
  VCPU_INFO_UPCALL_MASK,
  VCPU_INFO_UPCALL_PENDING,
  shinfoVcpuInfo,
} from "@pvkit/hypervisor-sim/abi";

/** Ports the 2-level ABI has for a 64-bit guest (`EVTCHN_2L_NR_CHANNELS`): 64 words of 64 bits. */
export const NR_2L_PORTS = 4096;
/** Words in `evtchn_pending` / `evtchn_mask`, and bits in a selector. */
export const NR_2L_WORDS = 64;

export class SharedInfoView {
  readonly #page: Page;

  constructor(page: Page) {
    this.#page = page;
  }

  /** False once the mapping is gone (the domain was destroyed). */
  get alive(): boolean {
    return this.#page.alive;
  }

  /** The mapped page (for callers that want to inspect other fields). */
  get page(): Page {
    return this.#page;
  }

  // ---- per-port bits --------------------------------------------------------------------------

  isPending(port: number): boolean {
    return (this.#page.getU8(SHINFO_EVTCHN_PENDING + (port >>> 3)) & (1 << (port & 7))) !== 0;
  }

  /** Clears the pending bit (Linux's `clear_evtchn`, the "ack" of an edge event). */
  clearPending(port: number): void {
    const at = SHINFO_EVTCHN_PENDING + (port >>> 3);
    this.#page.setU8(at, this.#page.getU8(at) & ~(1 << (port & 7)));
  }

  isMasked(port: number): boolean {
    return (this.#page.getU8(SHINFO_EVTCHN_MASK + (port >>> 3)) & (1 << (port & 7))) !== 0;
  }

  /** test_and_set of the mask bit: returns whether it was already set. */
  setMask(port: number): boolean {
    const at = SHINFO_EVTCHN_MASK + (port >>> 3);
    const old = this.#page.getU8(at);
    const m = 1 << (port & 7);
    this.#page.setU8(at, old | m);
    return (old & m) !== 0;
  }

  clearMask(port: number): void {
    const at = SHINFO_EVTCHN_MASK + (port >>> 3);
    this.#page.setU8(at, this.#page.getU8(at) & ~(1 << (port & 7)));
  }

  /** Sets every mask bit (Linux's `xen_evtchn_mask_all` at boot): no port is delivered until bound. */
  maskAll(): void {
    this.#page.fill(0xff, SHINFO_EVTCHN_MASK, NR_2L_PORTS / 8);
  }

  // ---- whole words (half = 0 for bits 0..31, 1 for bits 32..63) -------------------------------

  pendingHalf(word: number, half: number): number {
    return this.#page.getU32(SHINFO_EVTCHN_PENDING + word * 8 + half * 4);
  }

  maskHalf(word: number, half: number): number {
    return this.#page.getU32(SHINFO_EVTCHN_MASK + word * 8 + half * 4);
  }

  // ---- vcpu_info ------------------------------------------------------------------------------

  upcallPending(vcpu: number): number {
    return this.#page.getU8(shinfoVcpuInfo(vcpu) + VCPU_INFO_UPCALL_PENDING);
  }

  setUpcallPending(vcpu: number, value: 0 | 1): void {
    this.#page.setU8(shinfoVcpuInfo(vcpu) + VCPU_INFO_UPCALL_PENDING, value);
  }

  upcallMask(vcpu: number): number {
    return this.#page.getU8(shinfoVcpuInfo(vcpu) + VCPU_INFO_UPCALL_MASK);
  }

  /** Reads one half of `evtchn_pending_sel`. */
  selectorHalf(vcpu: number, half: number): number {
    return this.#page.getU32(shinfoVcpuInfo(vcpu) + VCPU_INFO_PENDING_SEL + half * 4);
  }

  /**
   * `xchg(&evtchn_pending_sel, 0)`: returns the old selector as [lo, hi] and leaves it 0.
   * Callers must have cleared `evtchn_upcall_pending` before this (Linux `events_base.c`:
   * `__xen_evtchn_do_upcall`; `events_2l.c`: `evtchn_2l_handle_events`).
   */
  exchangeSelector(vcpu: number): [number, number] {
    const at = shinfoVcpuInfo(vcpu) + VCPU_INFO_PENDING_SEL;
    const lo = this.#page.getU32(at);
    const hi = this.#page.getU32(at + 4);
    this.#page.setU32(at, 0);
    this.#page.setU32(at + 4, 0);
    return [lo, hi];
  }

  /** test_and_set of selector bit `word` of `vcpu`: returns whether it was already set. */
  setSelectorBit(vcpu: number, word: number): boolean {
    const at = shinfoVcpuInfo(vcpu) + VCPU_INFO_PENDING_SEL + (word >>> 3);
    const old = this.#page.getU8(at);
    const m = 1 << (word & 7);
    this.#page.setU8(at, old | m);
    return (old & m) !== 0;
  }
}
