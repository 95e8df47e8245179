/**
 * Typed wrappers over HYPERVISOR_memory_op (`memory.h`) and HYPERVISOR_xen_version
 * (`version.h`): what the event layer needs to find shared_info and to force an upcall check.
 */
import type { Hypercalls } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, XENMAPSPACE, XENMEM, XENVER } from "@pvkit/hypervisor-sim/abi";
import { XenError } from "../errors.js";

/** The part of a vCPU's hypercall surface these wrappers use. */
export type MemoryHypercalls = Pick<Hypercalls, "memory_op" | "xen_version">;

/**
 * XENMEM_add_to_physmap with XENMAPSPACE_shared_info: places the caller's shared_info page at
 * guest frame `gpfn` (a hole, or a RAM frame it then shadows), as an HVM/PVH guest does.
 * @throws XenError EINVAL (bad gpfn, or something other than RAM already mapped there).
 */
export function addSharedInfoToPhysmap(hc: MemoryHypercalls, gpfn: number): void {
  const a = { domid: DOMID_SELF, space: XENMAPSPACE.XENMAPSPACE_shared_info, idx: 0, gpfn };
  XenError.check(
    "XENMEM_add_to_physmap",
    hc.memory_op(XENMEM.XENMEM_add_to_physmap, a),
    () => `shared_info at gpfn 0x${gpfn.toString(16)}`,
  );
}

/**
 * XENMAPSPACE_grant_table: places grant-table frame `idx` of the caller at `gpfn`.
 * @throws XenError EINVAL.
 */
export function addGrantFrameToPhysmap(hc: MemoryHypercalls, idx: number, gpfn: number): void {
  const a = { domid: DOMID_SELF, space: XENMAPSPACE.XENMAPSPACE_grant_table, idx, gpfn };
  XenError.check(
    "XENMEM_add_to_physmap",
    hc.memory_op(XENMEM.XENMEM_add_to_physmap, a),
    () => `grant frame ${idx} at gpfn 0x${gpfn.toString(16)}`,
  );
}

/**
 * XENVER_version: `major << 16 | minor`. Also the cheap hypercall a guest issues to make Xen
 * re-check for a deliverable upcall (Linux's `xen_force_evtchn_callback`).
 */
export function xenVersion(hc: MemoryHypercalls): { major: number; minor: number } {
  const v = XenError.check("XENVER_version", hc.xen_version(XENVER.XENVER_version));
  return { major: v >>> 16, minor: v & 0xffff };
}
