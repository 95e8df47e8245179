/**
 * The shared_info page and its per-vCPU parts (`xen.h`, `arch-x86/xen.h`, x86_64 layout).
 *
 * ```
 *  0x000 +-----------------------------+
 *        | vcpu_info[0..31]  (64 B ea) |  vcpu i at i*64
 *  0x800 +-----------------------------+
 *        | evtchn_pending[64] (u64)    |  port p: byte 0x800 + p/8, bit p%8
 *  0xA00 +-----------------------------+
 *        | evtchn_mask[64]    (u64)    |  port p: byte 0xA00 + p/8, bit p%8
 *  0xC00 +-----------------------------+
 *        | wc_version wc_sec wc_nsec   |
 *        | wc_sec_hi  arch.*           |
 *  0xC40 +-----------------------------+  (sizeof = 3136; rest of the page unused)
 * ```
 *
 * struct vcpu_time_info { u32 version; u32 pad0; u64 tsc_timestamp; u64 system_time;
 *                         u32 tsc_to_system_mul; s8 tsc_shift; u8 flags; u8 pad1[2]; };  // 32
 * struct vcpu_info { u8 evtchn_upcall_pending; u8 evtchn_upcall_mask; xen_ulong_t evtchn_pending_sel;
 *                    struct arch_vcpu_info arch; struct vcpu_time_info time; };            // 64
 */
import type { Layout } from "./struct.js";

/** `sizeof(struct vcpu_time_info)`. */
export const VCPU_TIME_INFO_SIZE = 32;
export const vcpu_time_info = {
  version: [0, 4],
  pad0: [4, 4],
  tsc_timestamp: [8, 8],
  system_time: [16, 8],
  tsc_to_system_mul: [24, 4],
  tsc_shift: [28, 1],
  flags: [29, 1],
  pad1: [30, 2],
} as const satisfies Layout;

/** `XEN_PVCLOCK_TSC_STABLE_BIT` and `XEN_PVCLOCK_GUEST_STOPPED` flag bits. */
export const XEN_PVCLOCK_TSC_STABLE_BIT = 1 << 0;
export const XEN_PVCLOCK_GUEST_STOPPED = 1 << 1;

/** `sizeof(struct vcpu_info)`. */
export const VCPU_INFO_SIZE = 64;
export const vcpu_info = {
  evtchn_upcall_pending: [0, 1],
  evtchn_upcall_mask: [1, 1],
  evtchn_pending_sel: [8, 8],
  "arch.cr2": [16, 8],
  "arch.pad": [24, 8],
  time: [32, 32],
} as const satisfies Layout;

/** `sizeof(struct shared_info)` on x86_64. */
export const SHARED_INFO_SIZE = 3136;
export const shared_info = {
  vcpu_info: [0x000, 2048],
  evtchn_pending: [0x800, 512],
  evtchn_mask: [0xa00, 512],
  wc_version: [0xc00, 4],
  wc_sec: [0xc04, 4],
  wc_nsec: [0xc08, 4],
  wc_sec_hi: [0xc0c, 4],
  "arch.max_pfn": [0xc10, 8],
  "arch.pfn_to_mfn_frame_list_list": [0xc18, 8],
  "arch.nmi_reason": [0xc20, 8],
  "arch.p2m_cr3": [0xc28, 8],
  "arch.p2m_vaddr": [0xc30, 8],
  "arch.p2m_generation": [0xc38, 8],
} as const satisfies Layout;

/** Byte offset of `evtchn_pending` in shared_info. */
export const SHINFO_EVTCHN_PENDING = 0x800;
/** Byte offset of `evtchn_mask` in shared_info. */
export const SHINFO_EVTCHN_MASK = 0xa00;
/** Byte offset of `vcpu_info[vcpu]` in shared_info. */
export function shinfoVcpuInfo(vcpu: number): number {
  return vcpu * VCPU_INFO_SIZE;
}
/** Byte offsets within vcpu_info. */
export const VCPU_INFO_UPCALL_PENDING = 0;
export const VCPU_INFO_UPCALL_MASK = 1;
export const VCPU_INFO_PENDING_SEL = 8;
export const VCPU_INFO_TIME = 32;
/** Bits per `xen_ulong_t` word on x86_64 (the 2-level selector granularity). */
export const BITS_PER_EVTCHN_WORD = 64;
