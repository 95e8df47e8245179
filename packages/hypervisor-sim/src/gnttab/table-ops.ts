/**
 * The grant-table ops other than map/unmap/copy (Xen 4.17 `grant_table.c`), checks in Xen's
 * order (`gnttab_setup_table`, `gnttab_set_version`, ...). Each takes the guest's argument
 * array after the top-level rules of `grantTableOp` and returns the hypercall result.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import {
  GNTST,
  type gnttab_get_status_frames,
  type gnttab_get_version,
  type gnttab_query_size,
  type gnttab_set_version,
  type gnttab_setup_table,
  type gnttab_swap_grant_ref,
} from "../abi/grant-table.js";
import type { Vcpu } from "../domain/vcpu.js";
import type { XenContext } from "../xen-context.js";
import { xsmTarget } from "../xsm/dummy.js";
import { copyToGuest, handleOkay, isStruct, isUint } from "./guest-args.js";

const { EINVAL, EFAULT, ENOSYS, ESRCH, EOPNOTSUPP } = XEN_ERRNO;

/**
 * GNTTABOP_setup_table: count must be 1 (-EINVAL); `frame_list` must hold `nr_frames` entries
 * (-EFAULT). Status: bad_domain, permission_denied (XSM TARGET), general_error when `nr_frames`
 * exceeds the maximum. The table grows as needed and each of the first `nr_frames` frames is
 * made visible in the domain's physmap (at the GFN add_to_physmap gave it, else in the
 * grant-table window GNTTAB_GFN_BASE + i); their GFNs go to `frame_list`. A window slot the
 * guest filled with something else gives general_error; an element of `frame_list` that cannot
 * be written (a frozen array) gives bad_virt_addr.
 */
export function setupTable(hv: XenContext, v: Vcpu, uop: unknown[], count: number): number {
  if (count !== 1) return -EINVAL;
  const op = uop[0];
  if (!isStruct(op) || !isUint(op.dom, 16) || !isUint(op.nr_frames, 32)) return -EFAULT;
  const a = op as unknown as gnttab_setup_table;
  if (!handleOkay(a.frame_list, a.nr_frames)) return -EFAULT;
  const d = hv.lookupAnyId(v.domain, a.dom);
  if (d === undefined) {
    a.status = GNTST.GNTST_bad_domain;
    return 0;
  }
  if (xsmTarget(v.domain, d) !== 0) {
    a.status = GNTST.GNTST_permission_denied;
    return 0;
  }
  const gt = d.gnttab;
  if (a.nr_frames > gt.maxFrames || (a.nr_frames > gt.nrFrames && !gt.grow(a.nr_frames))) {
    a.status = GNTST.GNTST_general_error;
    return 0;
  }
  const gfns: number[] = [];
  for (let i = 0; i < a.nr_frames; i++) {
    const gfn = gt.placeFrame(i);
    if (gfn === undefined) {
      a.status = GNTST.GNTST_general_error;
      return 0;
    }
    gfns.push(gfn);
  }
  let status: number = GNTST.GNTST_okay;
  gfns.forEach((gfn, i) => {
    if (!copyToGuest(a.frame_list, i, gfn)) status = GNTST.GNTST_bad_virt_addr;
  });
  a.status = status;
  return 0;
}

/** GNTTABOP_query_size: count 1; status bad_domain / permission_denied (XSM TARGET); OUT sizes. */
export function querySize(hv: XenContext, v: Vcpu, uop: unknown[], count: number): number {
  if (count !== 1) return -EINVAL;
  const op = uop[0];
  if (!isStruct(op) || !isUint(op.dom, 16)) return -EFAULT;
  const a = op as unknown as gnttab_query_size;
  const d = hv.lookupAnyId(v.domain, a.dom);
  if (d === undefined) a.status = GNTST.GNTST_bad_domain;
  else if (xsmTarget(v.domain, d) !== 0) a.status = GNTST.GNTST_permission_denied;
  else {
    a.nr_frames = d.gnttab.nrFrames;
    a.max_nr_frames = d.gnttab.maxFrames;
    a.status = GNTST.GNTST_okay;
  }
  return 0;
}

/**
 * GNTTABOP_set_version on the caller's table (count is not looked at): a version other than 1
 * or 2 is -EINVAL; 2 is -ENOSYS because every simulated domain's maximum is 1 ("behave as
 * before set_version was introduced"); 1 is a no-op. `version` is always written back with the
 * version in effect (1).
 */
export function setVersion(_hv: XenContext, v: Vcpu, uop: unknown[]): number {
  const op = Array.isArray(uop) ? uop[0] : undefined;
  if (!isStruct(op) || !isUint(op.version, 32)) return -EFAULT;
  const a = op as unknown as gnttab_set_version;
  const gt = v.domain.gnttab;
  let res = 0;
  if (a.version !== 1 && a.version !== 2) res = -EINVAL;
  else if (a.version === 2 && gt.maxVersion === 1) res = -ENOSYS;
  a.version = gt.version;
  return res;
}

/**
 * GNTTABOP_get_status_frames: count 1; `frame_list` must hold `nr_frames` entries (-EFAULT);
 * status bad_domain / permission_denied (XSM TARGET); a v1 table has no status frames, so any
 * `nr_frames` > 0 is general_error and 0 is okay.
 */
export function getStatusFrames(hv: XenContext, v: Vcpu, uop: unknown[], count: number): number {
  if (count !== 1) return -EINVAL;
  const op = uop[0];
  if (!isStruct(op) || !isUint(op.nr_frames, 32) || !isUint(op.dom, 16)) return -EFAULT;
  const a = op as unknown as gnttab_get_status_frames;
  if (!handleOkay(a.frame_list, a.nr_frames)) return -EFAULT;
  const d = hv.lookupAnyId(v.domain, a.dom);
  if (d === undefined) a.status = GNTST.GNTST_bad_domain;
  else if (xsmTarget(v.domain, d) !== 0) a.status = GNTST.GNTST_permission_denied;
  else a.status = a.nr_frames > 0 ? GNTST.GNTST_general_error : GNTST.GNTST_okay;
  return 0;
}

/**
 * GNTTABOP_get_version (count not looked at): unknown domain → -ESRCH and XSM TARGET refusal →
 * -EPERM, as hypercall results; else `version` (1).
 */
export function getVersion(hv: XenContext, v: Vcpu, uop: unknown[]): number {
  const op = Array.isArray(uop) ? uop[0] : undefined;
  if (!isStruct(op) || !isUint(op.dom, 16)) return -EFAULT;
  const a = op as unknown as gnttab_get_version;
  const d = hv.lookupAnyId(v.domain, a.dom);
  if (d === undefined) return -ESRCH;
  const rc = xsmTarget(v.domain, d);
  if (rc !== 0) return rc;
  a.version = d.gnttab.version;
  return 0;
}

/**
 * GNTTABOP_swap_grant_ref on the caller's table, per element: ref_a then ref_b out of range →
 * bad_gntref; the same ref → okay (nothing); ref_a then ref_b pinned → eagain; else the two
 * 8-byte entries are exchanged.
 */
export function swapGrantRef(_hv: XenContext, v: Vcpu, uop: unknown[], count: number): number {
  const gt = v.domain.gnttab;
  for (let i = 0; i < count; i++) {
    const op = uop[i];
    if (!isStruct(op) || !isUint(op.ref_a, 32) || !isUint(op.ref_b, 32)) return -EFAULT;
    const a = op as unknown as gnttab_swap_grant_ref;
    if (a.ref_a >= gt.nrEntries || a.ref_b >= gt.nrEntries) a.status = GNTST.GNTST_bad_gntref;
    else if (a.ref_a === a.ref_b) a.status = GNTST.GNTST_okay;
    else if (gt.isPinned(a.ref_a) || gt.isPinned(a.ref_b)) a.status = GNTST.GNTST_eagain;
    else {
      gt.swapEntries(a.ref_a, a.ref_b);
      a.status = GNTST.GNTST_okay;
    }
  }
  return 0;
}

/**
 * GNTTABOP_transfer: -EOPNOTSUPP, Xen's answer when grant transfer is disabled (a hypervisor
 * built without PV support, or `gnttab=no-transfer`); page transfer exists only for PV guests.
 */
export function transfer(): number {
  return -EOPNOTSUPP;
}
