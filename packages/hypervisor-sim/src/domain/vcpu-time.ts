/**
 * A vCPU's view of time: the `vcpu_time_info` Xen keeps in shared_info (`update_vcpu_system_time`,
 * with the version protocol of `xen.h`) and the boot wall-clock (`update_domain_wallclock_time`)
 * (the single-shot timer that raises VIRQ_TIMER is in `vcpu-op.ts`).
 */
import {
  vcpu_time_info,
  VCPU_INFO_TIME,
  shared_info,
  XEN_PVCLOCK_TSC_STABLE_BIT,
} from "../abi/shared-info.js";
import { writeField } from "../abi/struct.js";
import type { Domain } from "./domain.js";
import type { Vcpu } from "./vcpu.js";

/**
 * Writes the vCPU's `vcpu_time_info` for virtual time `now` (ns) with Xen's version protocol (odd
 * while updating); nothing when it is already up to date. The virtual TSC counts nanoseconds:
 * tsc_to_system_mul = 2^31 with tsc_shift = 1 is the identity.
 */
export function updateVcpuTime(v: Vcpu, now: number): void {
  if (v.timeUpdatedAt === now) return;
  v.timeUpdatedAt = now;
  const dv = v.domain.sharedInfo.dv;
  const base = v.vcpuInfoOffset + VCPU_INFO_TIME;
  const version = dv.getUint32(base, true);
  dv.setUint32(base, (version + 1) >>> 0, true);
  writeField(dv, base, vcpu_time_info.tsc_timestamp, now);
  writeField(dv, base, vcpu_time_info.system_time, now);
  writeField(dv, base, vcpu_time_info.tsc_to_system_mul, 0x8000_0000);
  dv.setInt8(base + vcpu_time_info.tsc_shift[0], 1);
  writeField(dv, base, vcpu_time_info.flags, XEN_PVCLOCK_TSC_STABLE_BIT);
  dv.setUint32(base, (version + 2) >>> 0, true);
}

/** Writes the boot wall-clock (`wallclockSec`, seconds since the epoch) into shared_info (wc_version even when done). */
export function writeWallclock(d: Domain, wallclockSec: number): void {
  const dv = d.sharedInfo.dv;
  const v = dv.getUint32(shared_info.wc_version[0], true);
  dv.setUint32(shared_info.wc_version[0], v + 1, true);
  writeField(dv, 0, shared_info.wc_sec, wallclockSec % 2 ** 32);
  writeField(dv, 0, shared_info.wc_nsec, 0);
  writeField(dv, 0, shared_info.wc_sec_hi, Math.floor(wallclockSec / 2 ** 32));
  writeField(dv, 0, shared_info["arch.max_pfn"], d.physmap.nrPages);
  dv.setUint32(shared_info.wc_version[0], v + 2, true);
}
