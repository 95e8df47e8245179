/**
 * GNTTABOP_map_grant_ref, GNTTABOP_unmap_grant_ref and GNTTABOP_unmap_and_replace
 * (Xen 4.17 `map_grant_ref`, `unmap_common`, `unmap_common_complete`), checks in Xen's order.
 * Each element gets its own GNTST_* `status`; the hypercall returns 0, or -EFAULT at the first
 * element that cannot be read.
 *
 * Translated callers (every simulated guest) cannot ask for GNTMAP_device_map,
 * GNTMAP_application_map or GNTMAP_contains_pte: GNTST_general_error, before the domain lookup.
 * The device-pin counters and the device half of unmap are still kept (Xen's code paths are
 * shared), but only a PV caller could reach them; in particular GNTST_bad_dev_addr is only
 * checked for mappings with a device half, so a translated caller's `dev_bus_addr` is ignored.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import {
  GNTMAP,
  GNTST,
  type gnttab_map_grant_ref,
  type gnttab_unmap_and_replace,
  type gnttab_unmap_grant_ref,
} from "../abi/grant-table.js";
import { XEN_PAGE_SIZE } from "../abi/xen.js";
import type { Domain } from "../domain/domain.js";
import type { Vcpu } from "../domain/vcpu.js";
import type { XenContext } from "../xen-context.js";
import { xsmHook } from "../xsm/dummy.js";
import {
  type ActiveEntry,
  GNTPIN_devr_inc,
  GNTPIN_devw_inc,
  GNTPIN_hstr_inc,
  GNTPIN_hstw_inc,
  hasWritePins,
  incr2oflowMask,
} from "./active-entry.js";
import type { GrantTable } from "./grant-table.js";
import { isStruct, isU64, isUint } from "./guest-args.js";
import { INVALID_MAPTRACK_HANDLE } from "./maptrack.js";
import { grantMapFault } from "./map-fault-hook.js";
import {
  createGrantHostMapping,
  getPagedFrame,
  pagingModeExternal,
  replaceGrantHostMapping,
} from "./p2m.js";

const { EFAULT } = XEN_ERRNO;
const HOST_OR_DEV = GNTMAP.GNTMAP_host_map | GNTMAP.GNTMAP_device_map;

/** `map_grant_ref()` for one element: writes status, and on success handle and dev_bus_addr. */
function mapOne(hv: XenContext, ld: Domain, op: gnttab_map_grant_ref): void {
  const flags = op.flags;
  const ro = (flags & GNTMAP.GNTMAP_readonly) !== 0;
  let pinIncr = 0;
  if ((flags & GNTMAP.GNTMAP_device_map) !== 0) pinIncr += ro ? GNTPIN_devr_inc : GNTPIN_devw_inc;
  if ((flags & GNTMAP.GNTMAP_host_map) !== 0) pinIncr += ro ? GNTPIN_hstr_inc : GNTPIN_hstw_inc;
  if (pinIncr === 0) {
    op.status = GNTST.GNTST_bad_gntref;
    return;
  }
  const pvOnly =
    GNTMAP.GNTMAP_device_map | GNTMAP.GNTMAP_application_map | GNTMAP.GNTMAP_contains_pte;
  if (pagingModeExternal(ld) && (flags & pvOnly) !== 0) {
    op.status = GNTST.GNTST_general_error;
    return;
  }
  // A test host's injected failure (map-fault-hook.ts), before any state changes.
  const injected = grantMapFault(hv, ld.domid, op);
  if (injected !== undefined) {
    op.status = injected;
    return;
  }
  const rd = hv.domainById(op.dom);
  if (rd === undefined) {
    op.status = GNTST.GNTST_bad_domain;
    return;
  }
  if (xsmHook() !== 0) {
    op.status = GNTST.GNTST_permission_denied;
    return;
  }
  const lgt = ld.gnttab;
  const handle = lgt.maptrack.alloc();
  if (handle === INVALID_MAPTRACK_HANDLE) {
    op.status = GNTST.GNTST_no_space;
    return;
  }
  const rc = pinAndMap(ld, rd, op, handle, pinIncr, ro);
  if (rc === GNTST.GNTST_okay) {
    op.status = GNTST.GNTST_okay;
  } else {
    op.status = rc;
    lgt.maptrack.put(handle);
  }
}

/**
 * The part of `map_grant_ref()` after the maptrack handle is taken: pin `op.ref` of `rd` for
 * `ld`, map it, and record the mapping under `handle` (filling `dev_bus_addr` and `handle`).
 * Returns a GNTST code; on failure no pin is left behind and the caller gives `handle` back.
 * (Plain functions rather than per-call closures: this runs for every element of a batch.)
 */
function pinAndMap(
  ld: Domain,
  rd: Domain,
  op: gnttab_map_grant_ref,
  handle: number,
  pinIncr: number,
  ro: boolean,
): number {
  const lgt = ld.gnttab;
  const rgt = rd.gnttab;
  const flags = op.flags;
  const ref = op.ref;
  if (ref >= rgt.nrEntries) return GNTST.GNTST_bad_gntref;
  const act = rgt.active(ref);
  // Already pinned: same mapper only, no counter past 127 (is_sub_page is never set in v1).
  if (act.pin !== 0 && (act.domid !== ld.domid || (act.pin & incr2oflowMask(pinIncr)) !== 0)) {
    rgt.settle(ref);
    return GNTST.GNTST_general_error;
  }
  if (act.pin === 0 || (!ro && !hasWritePins(act.pin))) {
    const rc = rgt.setStatus(ref, act, ro, true, ld.domid);
    if (rc !== GNTST.GNTST_okay) {
      rgt.settle(ref);
      return rc;
    }
    if (act.pin === 0) {
      const gfn = rgt.entryFrame(ref);
      const frame = getPagedFrame(rd, gfn);
      if (typeof frame === "number") {
        rgt.reduceStatusForPin(ref, act, ro);
        rgt.settle(ref);
        return frame;
      }
      act.gfn = gfn;
      act.domid = ld.domid;
      act.frame = frame;
    }
  }
  act.pin = (act.pin + pinIncr) >>> 0;
  const frame = act.frame!;
  // The page must still belong to the granter ("could not pin" otherwise).
  if (frame.owner !== rd.domid)
    return unpinFailed(rgt, ref, act, pinIncr, ro, GNTST.GNTST_general_error);
  let hostGfn: number | undefined;
  if ((flags & GNTMAP.GNTMAP_host_map) !== 0) {
    const gfn = createGrantHostMapping(ld, op.host_addr, frame, flags);
    if (gfn < 0) return unpinFailed(rgt, ref, act, pinIncr, ro, gfn);
    hostGfn = gfn;
  }
  lgt.maptrack.set(handle, { flags, domid: rd.domid, ref, granter: rgt, hostGfn });
  if (rgt !== lgt) rgt.noteForeignMapping(1);
  op.dev_bus_addr = frame.mfn * XEN_PAGE_SIZE;
  op.handle = handle;
  return GNTST.GNTST_okay;
}

/** Undoes the pin `pinAndMap` just took (and the GTF bits it may have set); returns `rc`. */
function unpinFailed(
  rgt: GrantTable,
  ref: number,
  act: ActiveEntry,
  pinIncr: number,
  ro: boolean,
  rc: number,
): number {
  act.pin = (act.pin - pinIncr) >>> 0;
  rgt.reduceStatusForPin(ref, act, ro);
  rgt.settle(ref);
  return rc;
}

function mapArgsOk(op: unknown): op is gnttab_map_grant_ref {
  return (
    isStruct(op) &&
    isU64(op.host_addr) &&
    isUint(op.flags, 32) &&
    isUint(op.ref, 32) &&
    isUint(op.dom, 16)
  );
}

/** `gnttab_map_grant_ref()`: every element in turn. */
export function gnttabMapGrantRef(hv: XenContext, v: Vcpu, uop: unknown[], count: number): number {
  for (let i = 0; i < count; i++) {
    const op = uop[i];
    if (!mapArgsOk(op)) return -EFAULT;
    mapOne(hv, v.domain, op);
  }
  return 0;
}

/** What `unmap_common()` leaves for `unmap_common_complete()`. */
interface UnmapWork {
  rgt: GrantTable;
  ref: number;
  done: number;
}

/** The common arguments of unmap and unmap_and_replace (`struct gnttab_unmap_common`). */
interface UnmapCommon {
  host_addr: number;
  dev_bus_addr: number;
  new_addr: number;
  handle: number;
}

/**
 * `unmap_common()`: validate the handle and remove the halves named by non-zero addresses.
 * Returns the status (or undefined when the caller was crashed and no status is written) and the
 * pin work to complete after the batch.
 */
function unmapCommon(
  hv: XenContext,
  ld: Domain,
  op: UnmapCommon,
): [number | undefined, UnmapWork | undefined] {
  const lgt = ld.gnttab;
  if (op.handle >= lgt.maptrack.limit) return [GNTST.GNTST_bad_handle, undefined];
  const map = lgt.maptrack.entry(op.handle);
  if (map === undefined || map.flags === 0) return [GNTST.GNTST_bad_handle, undefined];
  const rd = hv.domainById(map.domid);
  if (rd === undefined || rd.gnttab !== map.granter) {
    // "This can happen when a grant is implicitly unmapped": Xen crashes the caller.
    hv.crashDomain(
      ld.domid,
      new Error(`unmap of handle ${op.handle}: granter d${map.domid} is gone`),
    );
    return [undefined, undefined];
  }
  if (xsmHook() !== 0) return [GNTST.GNTST_permission_denied, undefined];
  const rgt = map.granter;
  const ref = map.ref;
  if (ref >= rgt.nrEntries) return [GNTST.GNTST_bad_handle, undefined];
  const act = rgt.active(ref);
  const flags = map.flags;
  const frame = act.frame!;
  if (
    op.dev_bus_addr !== 0 &&
    (flags & GNTMAP.GNTMAP_device_map) !== 0 &&
    op.dev_bus_addr !== frame.mfn * XEN_PAGE_SIZE
  ) {
    return [GNTST.GNTST_bad_dev_addr, undefined];
  }
  let done = 0;
  if (op.host_addr !== 0 && (flags & GNTMAP.GNTMAP_host_map) !== 0) {
    const rc = replaceGrantHostMapping(ld, op.host_addr, frame, op.new_addr, flags);
    if (rc !== GNTST.GNTST_okay) return [rc, undefined];
    map.flags &= ~GNTMAP.GNTMAP_host_map;
    map.hostGfn = undefined;
    done |= GNTMAP.GNTMAP_host_map | (flags & GNTMAP.GNTMAP_readonly);
  }
  if (op.dev_bus_addr !== 0 && (flags & GNTMAP.GNTMAP_device_map) !== 0) {
    map.flags &= ~GNTMAP.GNTMAP_device_map;
    done |= GNTMAP.GNTMAP_device_map | (flags & GNTMAP.GNTMAP_readonly);
  }
  if ((map.flags & HOST_OR_DEV) === 0) {
    map.flags = 0;
    lgt.maptrack.put(op.handle);
    if (rgt !== lgt) rgt.noteForeignMapping(-1);
  }
  return [GNTST.GNTST_okay, done !== 0 ? { rgt, ref, done } : undefined];
}

/** `unmap_common_complete()` for a batch (after Xen's TLB flush): drop pins, finalise dying granters. */
function completeAll(hv: XenContext, work: UnmapWork[]): void {
  for (const w of work) w.rgt.unpin(w.ref, w.done);
  for (const w of work) if (w.rgt.domain.isDying) hv.maybeFinaliseDomain(w.rgt.domain);
}

function unmapBatch(
  hv: XenContext,
  v: Vcpu,
  uop: unknown[],
  count: number,
  read: (op: unknown) => UnmapCommon | undefined,
): number {
  const work: UnmapWork[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const op = uop[i];
      const common = read(op);
      if (common === undefined) return -EFAULT;
      const [status, w] = unmapCommon(hv, v.domain, common);
      if (w !== undefined) work.push(w);
      if (status !== undefined) (op as { status?: number }).status = status;
    }
    return 0;
  } finally {
    completeAll(hv, work);
  }
}

/** `gnttab_unmap_grant_ref()`: `new_addr` is 0. */
export function gnttabUnmapGrantRef(
  hv: XenContext,
  v: Vcpu,
  uop: unknown[],
  count: number,
): number {
  return unmapBatch(hv, v, uop, count, readUnmap);
}

function readUnmap(op: unknown): UnmapCommon | undefined {
  if (!isStruct(op) || !isU64(op.host_addr) || !isU64(op.dev_bus_addr) || !isUint(op.handle, 32))
    return undefined;
  const u = op as unknown as gnttab_unmap_grant_ref;
  return { host_addr: u.host_addr, dev_bus_addr: u.dev_bus_addr, new_addr: 0, handle: u.handle };
}

/**
 * `gnttab_unmap_and_replace()`: `dev_bus_addr` is 0. A translated guest cannot replace, so a
 * non-zero `new_addr` gives GNTST_general_error and `new_addr` = 0 is a plain host unmap.
 */
export function gnttabUnmapAndReplace(
  hv: XenContext,
  v: Vcpu,
  uop: unknown[],
  count: number,
): number {
  return unmapBatch(hv, v, uop, count, readUnmapAndReplace);
}

function readUnmapAndReplace(op: unknown): UnmapCommon | undefined {
  if (!isStruct(op) || !isU64(op.host_addr) || !isU64(op.new_addr) || !isUint(op.handle, 32))
    return undefined;
  const u = op as unknown as gnttab_unmap_and_replace;
  return { host_addr: u.host_addr, dev_bus_addr: 0, new_addr: u.new_addr, handle: u.handle };
}
