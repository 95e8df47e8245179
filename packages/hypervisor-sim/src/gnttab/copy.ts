/**
 * GNTTABOP_copy (Xen 4.17 `gnttab_copy`, `gnttab_copy_one`, `acquire_grant_for_copy`), checks in
 * Xen's order. For each element:
 *
 * 1. lock source then dest domain: a raw frame (no GNTCOPY_*_gref) of any domain but the literal
 *    DOMID_SELF → GNTST_permission_denied; an unknown domain → GNTST_bad_domain;
 * 2. claim the source (read pin) then the dest (write pin): ref out of range → bad_gntref;
 *    pinned by another domain, a counter at 128, wrong type/grantee, or a write pin of a
 *    GTF_readonly entry → general_error; a frame that is a hole or foreign → bad_page;
 * 3. `offset + len > 4096` on either side → GNTST_bad_copy_arg. (The sub-page window check that
 *    follows can only fail for v2 sub-page grants, which are not built.)
 *
 * So a bad ref wins over bad bounds: the grants are claimed before the bounds are checked.
 * Pins (and GTF_reading / GTF_writing) last only for the hypercall; like Xen, the last source
 * and dest stay claimed across consecutive elements naming the same ref or frame.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { GNTCOPY, GNTST, type gnttab_copy } from "../abi/grant-table.js";
import { DOMID_SELF, XEN_PAGE_SIZE } from "../abi/xen.js";
import type { Domain } from "../domain/domain.js";
import type { Vcpu } from "../domain/vcpu.js";
import type { XenContext } from "../xen-context.js";
import type { Frame } from "../memory/frame.js";
import { xsmHook } from "../xsm/dummy.js";
import {
  type ActiveEntry,
  GNTPIN_hstr_inc,
  GNTPIN_hstw_inc,
  hasWritePins,
  incr2oflowMask,
  settleEntry,
} from "./active-entry.js";
import type { GrantTable } from "./grant-table.js";
import { isStruct, isU64, isUint } from "./guest-args.js";
import { getPagedFrame } from "./p2m.js";

const { EFAULT } = XEN_ERRNO;

/** `struct gnttab_copy_buf`: one side of the copy, possibly kept across elements. */
interface CopyBuf {
  domain: Domain | undefined;
  /** The domid as the guest wrote it (DOMID_SELF stays DOMID_SELF). */
  domid: number;
  readOnly: boolean;
  /** The claimed page, or undefined when nothing is claimed (`virt`). */
  frame: Frame | undefined;
  haveGrant: boolean;
  ref: number;
  gmfn: number;
  /** The accessible window: v1 grants and raw frames are whole pages. */
  offset: number;
  len: number;
}

function emptyBuf(): CopyBuf {
  return {
    domain: undefined,
    domid: 0,
    readOnly: true,
    frame: undefined,
    haveGrant: false,
    ref: 0,
    gmfn: 0,
    offset: 0,
    len: 0,
  };
}

/** `release_grant_for_copy()`: drop the copy's pin and reduce the GTF bits. */
function releaseGrantForCopy(rd: Domain, ref: number, readonly: boolean): void {
  const rgt = rd.gnttab;
  const act = rgt.active(ref);
  act.pin = (act.pin - (readonly ? GNTPIN_hstr_inc : GNTPIN_hstw_inc)) >>> 0;
  rgt.reduceStatusForPin(ref, act, readonly);
  settleEntry(act);
}

/** A failed acquire after the status was set: drop the GTF bits the pin would have held, return `rc`. */
function clearAndFail(
  rgt: GrantTable,
  ref: number,
  act: ActiveEntry,
  readonly: boolean,
  rc: number,
): number {
  rgt.reduceStatusForPin(ref, act, readonly);
  rgt.settle(ref);
  return rc;
}

/**
 * `acquire_grant_for_copy()` for a v1 table. Returns the frame to copy to or from — the active
 * entry's, fixed by the first pin — or a negative GNTST code.
 */
function acquireGrantForCopy(
  rd: Domain,
  ref: number,
  ldom: number,
  readonly: boolean,
): Frame | number {
  const rgt = rd.gnttab;
  const pinIncr = readonly ? GNTPIN_hstr_inc : GNTPIN_hstw_inc;
  if (ref >= rgt.nrEntries) return GNTST.GNTST_bad_gntref;
  const act = rgt.active(ref);
  if (act.pin !== 0 && (act.domid !== ldom || (act.pin & incr2oflowMask(pinIncr)) !== 0)) {
    rgt.settle(ref);
    return GNTST.GNTST_general_error;
  }
  const oldPin = act.pin;
  if (oldPin === 0 || (!readonly && !hasWritePins(oldPin))) {
    const rc = rgt.setStatus(ref, act, readonly, false, ldom);
    if (rc !== GNTST.GNTST_okay) {
      rgt.settle(ref);
      return rc;
    }
    // Xen resolves the entry's frame again even when upgrading a read pin to a write pin, and
    // fails the claim if that GFN is not a page of the granter's; but a pinned entry keeps its
    // frame: the copy goes to act->mfn (the frame of the first pin) even if the guest has since
    // pointed the entry at another GFN. Only the debug act->gfn follows the entry.
    const gfn = rgt.entryFrame(ref);
    const frame = getPagedFrame(rd, gfn);
    if (typeof frame === "number") return clearAndFail(rgt, ref, act, readonly, frame);
    act.gfn = gfn;
    if (oldPin === 0) {
      act.domid = ldom;
      act.frame = frame;
    }
  } else if (rd.isDying || act.frame?.owner !== rd.domid) {
    return clearAndFail(rgt, ref, act, readonly, GNTST.GNTST_bad_domain);
  }
  act.pin = (act.pin + pinIncr) >>> 0;
  return act.frame!;
}

function releaseBuf(buf: CopyBuf): void {
  if (buf.haveGrant && buf.domain !== undefined)
    releaseGrantForCopy(buf.domain, buf.ref, buf.readOnly);
  buf.haveGrant = false;
  buf.frame = undefined;
}

function unlockDomains(src: CopyBuf, dest: CopyBuf): void {
  src.domain = undefined;
  dest.domain = undefined;
}

function lockDomain(
  hv: XenContext,
  caller: Domain,
  domid: number,
  isGref: boolean,
  buf: CopyBuf,
): number {
  if (domid !== DOMID_SELF && !isGref) return GNTST.GNTST_permission_denied;
  const d = hv.lookupAnyId(caller, domid);
  if (d === undefined) return GNTST.GNTST_bad_domain;
  buf.domain = d;
  buf.domid = domid;
  return GNTST.GNTST_okay;
}

function lockDomains(
  hv: XenContext,
  caller: Domain,
  op: gnttab_copy,
  src: CopyBuf,
  dest: CopyBuf,
): number {
  let rc = lockDomain(
    hv,
    caller,
    op.source.domid,
    (op.flags & GNTCOPY.GNTCOPY_source_gref) !== 0,
    src,
  );
  if (rc === GNTST.GNTST_okay)
    rc = lockDomain(hv, caller, op.dest.domid, (op.flags & GNTCOPY.GNTCOPY_dest_gref) !== 0, dest);
  if (rc === GNTST.GNTST_okay && xsmHook() !== 0) rc = GNTST.GNTST_permission_denied;
  if (rc !== GNTST.GNTST_okay) unlockDomains(src, dest);
  return rc;
}

function bufValid(ptr: gnttab_copy["source"], buf: CopyBuf, isGref: boolean): boolean {
  if (buf.frame === undefined) return false;
  if (isGref) return buf.haveGrant && ptr.u.ref === buf.ref;
  return !buf.haveGrant && ptr.u.gmfn === buf.gmfn;
}

function claimBuf(
  caller: Domain,
  op: gnttab_copy,
  ptr: gnttab_copy["source"],
  buf: CopyBuf,
  grefFlag: number,
): number {
  buf.readOnly = grefFlag === GNTCOPY.GNTCOPY_source_gref;
  const d = buf.domain!;
  let frame: Frame | number;
  if ((op.flags & grefFlag) !== 0) {
    frame = acquireGrantForCopy(d, ptr.u.ref!, caller.domid, buf.readOnly);
    if (typeof frame === "number") return frame;
    buf.ref = ptr.u.ref!;
    buf.haveGrant = true;
  } else {
    frame = getPagedFrame(d, ptr.u.gmfn!);
    if (typeof frame === "number") return frame;
    buf.gmfn = ptr.u.gmfn!;
  }
  buf.offset = 0;
  buf.len = XEN_PAGE_SIZE;
  buf.frame = frame;
  return GNTST.GNTST_okay;
}

/**
 * Copies up to which `copyBytes` moves bytes in a loop: below this a `subarray()` view costs
 * more than the bytes (a short copy, such as a header or a response, would allocate one per
 * element).
 */
const SMALL_COPY = 64;

/** `gnttab_copy_buf()`: bounds, then the bytes. */
function copyBytes(op: gnttab_copy, dest: CopyBuf, src: CopyBuf): number {
  const len = op.len;
  const so = op.source.offset;
  const doff = op.dest.offset;
  if (so + len > XEN_PAGE_SIZE || doff + len > XEN_PAGE_SIZE) return GNTST.GNTST_bad_copy_arg;
  if (so < src.offset || so + len > src.offset + src.len) return GNTST.GNTST_general_error;
  if (doff < dest.offset || doff + len > dest.offset + dest.len) return GNTST.GNTST_general_error;
  const from = src.frame!.bytes;
  const to = dest.frame!.bytes;
  if (len === XEN_PAGE_SIZE)
    to.set(from); // both offsets are 0: no sub-view to allocate
  else if (len <= SMALL_COPY && (from !== to || so >= doff)) {
    // A forward loop is a correct memmove unless it copies within one frame towards higher offsets.
    for (let i = 0; i < len; i++) to[doff + i] = from[so + i]!;
  } else to.set(from.subarray(so, so + len), doff); // TypedArray#set is a memmove within one frame
  return GNTST.GNTST_okay;
}

function copyOne(
  hv: XenContext,
  caller: Domain,
  op: gnttab_copy,
  dest: CopyBuf,
  src: CopyBuf,
): number {
  if (
    src.domain === undefined ||
    op.source.domid !== src.domid ||
    dest.domain === undefined ||
    op.dest.domid !== dest.domid
  ) {
    releaseBuf(src);
    releaseBuf(dest);
    unlockDomains(src, dest);
    const rc = lockDomains(hv, caller, op, src, dest);
    if (rc !== GNTST.GNTST_okay) return rc;
  }
  if (!bufValid(op.source, src, (op.flags & GNTCOPY.GNTCOPY_source_gref) !== 0)) {
    releaseBuf(src);
    const rc = claimBuf(caller, op, op.source, src, GNTCOPY.GNTCOPY_source_gref);
    if (rc !== GNTST.GNTST_okay) return rc;
  }
  if (!bufValid(op.dest, dest, (op.flags & GNTCOPY.GNTCOPY_dest_gref) !== 0)) {
    releaseBuf(dest);
    const rc = claimBuf(caller, op, op.dest, dest, GNTCOPY.GNTCOPY_dest_gref);
    if (rc !== GNTST.GNTST_okay) return rc;
  }
  return copyBytes(op, dest, src);
}

function copyPtrOk(p: unknown, isGref: boolean): boolean {
  if (!isStruct(p) || !isUint(p.domid, 16) || !isUint(p.offset, 16) || !isStruct(p.u)) return false;
  return isGref ? isUint(p.u.ref, 32) : isU64(p.u.gmfn);
}

function copyArgsOk(op: unknown): op is gnttab_copy {
  if (!isStruct(op) || !isUint(op.len, 16) || !isUint(op.flags, 16)) return false;
  return (
    copyPtrOk(op.source, (op.flags & GNTCOPY.GNTCOPY_source_gref) !== 0) &&
    copyPtrOk(op.dest, (op.flags & GNTCOPY.GNTCOPY_dest_gref) !== 0)
  );
}

/** `gnttab_copy()`: every element, each with its own status; claims are released at the end. */
export function gnttabCopy(hv: XenContext, v: Vcpu, uop: unknown[], count: number): number {
  const src = emptyBuf();
  const dest = emptyBuf();
  let rc = 0;
  for (let i = 0; i < count; i++) {
    const op = uop[i];
    if (!copyArgsOk(op)) {
      rc = -EFAULT;
      break;
    }
    const status = copyOne(hv, v.domain, op, dest, src);
    if (status !== GNTST.GNTST_okay) {
      releaseBuf(src);
      releaseBuf(dest);
    }
    op.status = status;
  }
  releaseBuf(src);
  releaseBuf(dest);
  unlockDomains(src, dest);
  return rc;
}
