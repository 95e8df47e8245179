/**
 * HYPERVISOR_memory_op (12), `memory.h` (`xen/common/memory.c`: `do_memory_op`;
 * `xen/arch/x86/mm.c`: `xenmem_add_to_physmap_one`): XENMEM_add_to_physmap for shared_info and
 * grant-table frames (-ENXIO over a grant mapping; RAM there is freed), XENMEM_add_to_physmap_batch
 * for gmfn_foreign, XENMEM_remove_from_physmap (-ENOENT for a hole or a grant mapping; RAM removed
 * stays allocated) and the reservation queries (current: RAM pages the domain holds). Results per
 * kind of entry: `physmap-ops.ts`. Other commands -ENOSYS.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import {
  XENMAPSPACE,
  XENMEM,
  type xen_add_to_physmap,
  type xen_add_to_physmap_batch,
  type xen_remove_from_physmap,
} from "../abi/memory.js";
import { isU64 } from "../abi/struct.js";
import { DOMID_SELF } from "../abi/xen.js";
import type { Domain } from "../domain/domain.js";
import type { XenContext } from "../xen-context.js";
import { xsmTarget } from "../xsm/dummy.js";
import { removeBeforeXenPage, removeFromPhysmap } from "./physmap-ops.js";

const { EINVAL, ENOSYS, EFAULT, EPERM, ESRCH, EBUSY, EOPNOTSUPP } = XEN_ERRNO;

/** Elements of XENMEM_add_to_physmap_batch: `size` is a u16. */
const ADD_TO_PHYSMAP_BATCH_MAX = 0xffff;

/** One XENMEM_* command issued by `caller`. */
export function memoryOp(xen: XenContext, caller: Domain, cmd: number, arg: unknown): number {
  switch (cmd) {
    case XENMEM.XENMEM_current_reservation:
    case XENMEM.XENMEM_maximum_reservation: {
      const domid = (arg as { domid?: number } | undefined)?.domid ?? DOMID_SELF;
      const d = xen.lookupAnyId(caller, domid);
      if (d === undefined) return -ESRCH;
      if (d !== caller && !caller.isPrivileged) return -EPERM;
      return cmd === XENMEM.XENMEM_current_reservation ? d.physmap.populated : d.physmap.nrPages;
    }
    case XENMEM.XENMEM_add_to_physmap:
      return addToPhysmap(xen, caller, arg as xen_add_to_physmap);
    case XENMEM.XENMEM_add_to_physmap_batch:
      return addToPhysmapBatch(xen, caller, arg as xen_add_to_physmap_batch);
    case XENMEM.XENMEM_remove_from_physmap: {
      const a = arg as xen_remove_from_physmap;
      // A gpfn that is no xen_pfn_t cannot be the bytes of the C struct: a failed copy.
      if (a === null || typeof a !== "object" || !isU64(a.gpfn)) return -EFAULT;
      const d = xen.lookupAnyId(caller, a.domid);
      if (d === undefined) return -ESRCH;
      if (xsmTarget(caller, d) !== 0) return -EPERM;
      return removeFromPhysmap(d.physmap, a.gpfn);
    }
    default:
      return -ENOSYS;
  }
}

/** XENMEM_add_to_physmap: XENMAPSPACE_shared_info and XENMAPSPACE_grant_table. */
function addToPhysmap(xen: XenContext, caller: Domain, a: xen_add_to_physmap): number {
  if (a === null || typeof a !== "object") return -EFAULT;
  const d = xen.lookupAnyId(caller, a.domid);
  if (d === undefined) return -ESRCH;
  if (xsmTarget(caller, d) !== 0) return -EPERM;
  if (!Number.isInteger(a.gpfn) || a.gpfn < 0) return -EINVAL;
  if (a.space === XENMAPSPACE.XENMAPSPACE_shared_info) {
    if (a.idx !== 0) return -EINVAL;
    // xenmem_add_to_physmap_one: what is at gpfn goes (RAM is freed; a grant mapping gives
    // -ENXIO), then shared_info leaves its old GFN (a hole), then it is added.
    const old = d.sharedInfoGfn;
    if (old === a.gpfn) return 0;
    const rc = removeBeforeXenPage(d.physmap, a.gpfn);
    if (rc !== 0) return rc;
    if (old !== undefined) d.physmap.remove(old);
    if (!d.physmap.insert(a.gpfn, d.sharedInfo, "xen", true)) return -EINVAL;
    return 0;
  }
  if (a.space === XENMAPSPACE.XENMAPSPACE_grant_table) {
    return d.gnttab.addToPhysmap(a.idx, a.gpfn);
  }
  // gmfn_foreign only through the batch form; the rest are not simulated.
  return -EINVAL;
}

/**
 * XENMEM_add_to_physmap_batch with XENMAPSPACE_gmfn_foreign: the caller (privileged, or the
 * target's device model) maps frames of `u.foreign_domid` into `domid`'s physmap — what libxc's
 * foreign memory mappings do when building a guest. Per-element result in `errs`:
 * -ESRCH unknown foreign domain, -EPERM refused by XSM, -EINVAL the foreign GFN holds no
 * RAM-like frame (or is the mapping domain itself), -EBUSY the target GFN is already mapped.
 */
function addToPhysmapBatch(xen: XenContext, caller: Domain, a: xen_add_to_physmap_batch): number {
  if (a === null || typeof a !== "object") return -EFAULT;
  if (!Number.isInteger(a.size) || a.size < 0 || a.size > ADD_TO_PHYSMAP_BATCH_MAX) return -EINVAL;
  if (!Array.isArray(a.idxs) || !Array.isArray(a.gpfns) || !Array.isArray(a.errs)) return -EFAULT;
  if (a.idxs.length < a.size || a.gpfns.length < a.size) return -EFAULT;
  const d = xen.lookupAnyId(caller, a.domid);
  if (d === undefined) return -ESRCH;
  if (xsmTarget(caller, d) !== 0) return -EPERM;
  if (a.space !== XENMAPSPACE.XENMAPSPACE_gmfn_foreign) return -EOPNOTSUPP;
  const fd = xen.lookupAnyId(caller, a.u?.foreign_domid);
  for (let i = 0; i < a.size; i++) {
    let rc: number;
    if (fd === undefined || fd.isDying) rc = -ESRCH;
    else if (fd === d) rc = -EINVAL;
    else if (xsmTarget(d, fd) !== 0) rc = -EPERM;
    else {
      const idx = a.idxs[i]!;
      // The foreign domain's own page (RAM, or a Xen page of its): not a hole, nor a page it
      // maps from someone else.
      const frame = fd.physmap.ownFrame(idx);
      if (frame === undefined) rc = -EINVAL;
      else rc = d.physmap.insert(a.gpfns[i]!, frame, "foreign-gmfn", true) ? 0 : -EBUSY;
    }
    a.errs[i] = rc;
  }
  return 0;
}
