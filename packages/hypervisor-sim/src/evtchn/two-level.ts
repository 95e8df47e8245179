/**
 * The 2-level event ABI (`xen/common/event_2l.c`), acting on the real shared_info bytes.
 * Port p is bit p%8 of byte 0x800 + p/8 (pending) and 0xA00 + p/8 (mask); selector bit p/64
 * lives in the notify vCPU's `evtchn_pending_sel`.
 */
import {
  SHINFO_EVTCHN_MASK,
  SHINFO_EVTCHN_PENDING,
  VCPU_INFO_PENDING_SEL,
  VCPU_INFO_UPCALL_PENDING,
} from "../abi/shared-info.js";

/** What a raise did, for the trace. */
export type RaiseOutcome = "coalesced" | "masked" | "selector" | "upcall";

/** The shared_info bytes and a vCPU's vcpu_info location. */
export interface TwoLevelTarget {
  /** shared_info bytes. */
  readonly shinfo: Uint8Array;
  /** Bytes holding this vCPU's vcpu_info (shared_info for vCPUs < 32). */
  readonly vcpuInfo: Uint8Array;
  /** Offset of vcpu_info within `vcpuInfo`. */
  readonly vcpuInfoOffset: number;
}

export function isPending(shinfo: Uint8Array, port: number): boolean {
  return (shinfo[SHINFO_EVTCHN_PENDING + (port >>> 3)]! & (1 << (port & 7))) !== 0;
}

export function isMasked(shinfo: Uint8Array, port: number): boolean {
  return (shinfo[SHINFO_EVTCHN_MASK + (port >>> 3)]! & (1 << (port & 7))) !== 0;
}

export function clearPending(shinfo: Uint8Array, port: number): void {
  shinfo[SHINFO_EVTCHN_PENDING + (port >>> 3)]! &= ~(1 << (port & 7));
}

/** test_and_set on one bit at `byteOff`, returning the old value. */
function testAndSet(bytes: Uint8Array, byteOff: number, bit: number): boolean {
  const old = bytes[byteOff]!;
  const m = 1 << bit;
  bytes[byteOff] = old | m;
  return (old & m) !== 0;
}

/**
 * Selector bit `port/64` of the notify vCPU, then `evtchn_upcall_pending`. Returns true when
 * upcall_pending went 0 → 1 (Xen then kicks the vCPU).
 */
function markSelectorAndUpcall(v: TwoLevelTarget, port: number): "selector" | "upcall" {
  const word = port >>> 6;
  const selByte = v.vcpuInfoOffset + VCPU_INFO_PENDING_SEL + (word >>> 3);
  if (testAndSet(v.vcpuInfo, selByte, word & 7)) return "selector";
  // vcpu_mark_events_pending(): test_and_set_bit(0, &evtchn_upcall_pending)
  if (testAndSet(v.vcpuInfo, v.vcpuInfoOffset + VCPU_INFO_UPCALL_PENDING, 0)) return "selector";
  return "upcall";
}

/**
 * `evtchn_2l_set_pending()`, steps in Xen's order: test_and_set pending (stop if it was set);
 * if unmasked, test_and_set the selector bit and, if that was clear, upcall_pending.
 */
export function setPending2l(v: TwoLevelTarget, port: number): RaiseOutcome {
  const sh = v.shinfo;
  if (testAndSet(sh, SHINFO_EVTCHN_PENDING + (port >>> 3), port & 7)) return "coalesced";
  if (isMasked(sh, port)) return "masked";
  return markSelectorAndUpcall(v, port);
}

/**
 * `evtchn_2l_unmask()`: only if the mask bit *was* set, the port is pending, and the selector bit
 * was clear does it mark upcall_pending. Returns "upcall" when the vCPU must be kicked.
 */
export function unmask2l(v: TwoLevelTarget, port: number): "none" | "selector" | "upcall" {
  const sh = v.shinfo;
  const at = SHINFO_EVTCHN_MASK + (port >>> 3);
  const m = 1 << (port & 7);
  const was = (sh[at]! & m) !== 0;
  sh[at] = sh[at]! & ~m;
  if (!was || !isPending(sh, port)) return "none";
  return markSelectorAndUpcall(v, port);
}
