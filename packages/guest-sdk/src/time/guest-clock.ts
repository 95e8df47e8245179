/**
 * The guest's clock: system time (ns since the domain booted) read the way Linux's
 * `pvclock_clocksource_read` does, from its vCPU's `vcpu_time_info` in shared_info
 * (`xen.h` `struct vcpu_time_info`, `arch-x86/xen.h`) and the TSC:
 *
 * ```
 * do {
 *   version = info.version                      odd: Xen is updating, read again
 *   delta   = rdtsc() - info.tsc_timestamp
 *   delta   = shift >= 0 ? delta << shift : delta >> -shift
 *   now     = info.system_time + (delta * info.tsc_to_system_mul) >> 32
 * } while (version is odd || info.version != version)
 * ```
 *
 * Xen refreshes `vcpu_time_info` when it schedules the vCPU (in the simulator: at boot, on each
 * upcall and each timer); between refreshes the TSC carries the time forward. This is what a
 * driver uses for its own timeouts, together with `SCHEDOP_poll` or `set_timer_op`, whose
 * deadlines are absolute system times.
 */
import type { Guest, ReadonlyPage } from "@pvkit/hypervisor-sim";
import { VCPU_INFO_TIME, shinfoVcpuInfo, vcpu_time_info } from "@pvkit/hypervisor-sim/abi";
import { mapSharedInfo, mappedSharedInfo } from "../events/shared-info-frame.js";

/** Reads of an odd or changing `version` before giving up (Xen never leaves it odd). */
const MAX_TRIES = 1000;

const VERSION = vcpu_time_info.version[0];
const TSC_TIMESTAMP = vcpu_time_info.tsc_timestamp[0];
const SYSTEM_TIME = vcpu_time_info.system_time[0];
const MUL = vcpu_time_info.tsc_to_system_mul[0];
const SHIFT = vcpu_time_info.tsc_shift[0];

/** Where shared_info is mapped: an `EventChannels` has this shape, or give the frame itself. */
export interface SharedInfoFrame {
  /** The guest frame number of the shared_info page. */
  readonly sharedInfoGfn: number;
}

/** The part of a guest the clock needs: its TSC. */
export type ClockGuest = Pick<Guest, "rdtsc" | "nrVcpus">;

/**
 * System time of one guest, in nanoseconds since it booted, per vCPU (each has its own
 * `vcpu_time_info`). Read-only: it never issues a hypercall.
 */
export class GuestClock {
  readonly #guest: ClockGuest;
  readonly #sharedInfo: ReadonlyPage;

  /**
   * The clock of `guest`, reading its shared_info page — and nothing else: it sets up no event
   * channels. The page is at `where.sharedInfoGfn` (pass the guest's `EventChannels`, or the
   * frame); without `where`, wherever the SDK mapped it for this guest (`EventChannels.of`, an
   * earlier clock), else the clock maps it itself (XENMEM_add_to_physmap at the frame
   * `EventChannels.of` would choose, so a later `of()` finds it there). A clock reads the frame
   * it was made with: after shared_info is moved elsewhere, make a new one.
   * @throws RangeError if nothing is mapped at the frame; XenError EINVAL if mapping fails.
   */
  static of(guest: Guest, where?: SharedInfoFrame): GuestClock {
    const gfn = where?.sharedInfoGfn ?? mappedSharedInfo(guest) ?? mapSharedInfo(guest, undefined);
    return new GuestClock(guest, guest.memory.page(gfn));
  }

  /** @param sharedInfo the guest's mapping of its shared_info page. */
  constructor(guest: ClockGuest, sharedInfo: ReadonlyPage) {
    this.#guest = guest;
    this.#sharedInfo = sharedInfo;
  }

  /**
   * System time now, as `vcpu` sees it, in ns.
   * @throws RangeError for a vCPU the guest lacks; Error if `version` never settles.
   */
  now(vcpu = 0): number {
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.#guest.nrVcpus)
      throw new RangeError(`no vcpu ${vcpu}`);
    const base = shinfoVcpuInfo(vcpu) + VCPU_INFO_TIME;
    const page = this.#sharedInfo;
    for (let i = 0; i < MAX_TRIES; i++) {
      const version = page.getU32(base + VERSION);
      if ((version & 1) !== 0) continue;
      const stamp = page.getU64(base + TSC_TIMESTAMP);
      const system = page.getU64(base + SYSTEM_TIME);
      const mul = page.getU32(base + MUL);
      const shift = (page.getU8(base + SHIFT) << 24) >> 24; // s8
      const tsc = this.#guest.rdtsc();
      if (page.getU32(base + VERSION) !== version) continue;
      return system + scaleDelta(Math.max(0, tsc - stamp), mul, shift);
    }
    throw new Error(
      `vcpu_time_info of vcpu ${vcpu} never settled (version stays odd or keeps changing)`,
    );
  }
}

/** `pvclock_scale_delta`: `(delta << shift or >> -shift) * mul >> 32`, in exact 64-bit arithmetic. */
export function scaleDelta(delta: number, mul: number, shift: number): number {
  let d = BigInt(delta);
  d = shift >= 0 ? d << BigInt(shift) : d >> BigInt(-shift);
  return Number((d * BigInt(mul)) >> 32n);
}
