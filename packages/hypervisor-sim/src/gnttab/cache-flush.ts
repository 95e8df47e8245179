/**
 * GNTTABOP_cache_flush (Xen 4.17 `_cache_flush`, `gnttab_cache_flush`). It exists for Arm's
 * non-coherent devices; on x86 caches are coherent, so a valid request changes no byte here.
 * What is modelled is Xen's argument checking, in its order, per element:
 *
 * 1. `offset >= 4096`, `length > 4096`, `offset + length > 4096`, or any `op` bit other than
 *    CLEAN | INVAL → -EINVAL. GNTTAB_CACHE_SOURCE_GREF (bit 31) is such a bit, so in 4.17 it gets
 *    -EINVAL here and the later "-EOPNOTSUPP for SOURCE_GREF" branch cannot be reached;
 * 2. `length` 0 or `op` 0 → nothing to do: 0, or -EILSEQ when the continuation bits of `cmd`
 *    carried a non-zero resume ref;
 * 3. `dev_bus_addr` must name a frame the caller owns or has grant-mapped (an active entry of
 *    the owner pinned by the caller at or after the resume ref): else -EINVAL.
 *
 * Simulator limit: there is no machine-to-phys index, so the caller's own frames are recognised
 * only when Xen-side code knows them (its grant-table frames and shared_info page); a flush of
 * its own RAM by machine address gets -EINVAL here where Xen answers 0.
 *
 * No `status` field: the hypercall stops at the first failing element and returns its errno.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { XEN_PAGE_SIZE } from "../abi/xen.js";
import type { Domain } from "../domain/domain.js";
import type { Vcpu } from "../domain/vcpu.js";
import type { XenContext } from "../xen-context.js";
import { isStruct, isU64, isUint } from "./guest-args.js";

const { EINVAL, EFAULT, EILSEQ, EOPNOTSUPP } = XEN_ERRNO;

/** `GNTTAB_CACHE_CLEAN`. */
export const GNTTAB_CACHE_CLEAN = 1 << 0;
/** `GNTTAB_CACHE_INVAL`. */
export const GNTTAB_CACHE_INVAL = 1 << 1;
/** `GNTTAB_CACHE_SOURCE_GREF` (u32 bit 31). */
export const GNTTAB_CACHE_SOURCE_GREF = 0x8000_0000;

/** Whether machine frame `mfn` is one the caller owns and Xen-side code can name. */
function ownsKnownFrame(d: Domain, mfn: number): boolean {
  if (d.sharedInfo.mfn === mfn) return true;
  for (let i = 0; i < d.gnttab.nrFrames; i++) if (d.gnttab.frame(i)!.mfn === mfn) return true;
  return false;
}

/** `grant_map_exists()`: an active entry of the owner, at or after `curRef`, pinned by `d` on `mfn`. */
function grantMapExists(hv: XenContext, d: Domain, mfn: number, curRef: number): boolean {
  for (const [, m] of d.gnttab.maptrack.entriesDescending()) {
    const act = m.granter.active(m.ref);
    if (act.frame?.mfn !== mfn) continue;
    const owner = hv.domainById(act.frame.owner);
    if (owner === undefined) continue;
    for (const [ref, a] of owner.gnttab.pinned()) {
      if (ref >= curRef && a.domid === d.domid && a.frame?.mfn === mfn) return true;
    }
  }
  return false;
}

interface CacheFlushArgs {
  a: { dev_bus_addr?: number };
  offset: number;
  length: number;
  op: number;
}

function flushOne(hv: XenContext, d: Domain, c: CacheFlushArgs, curRef: number): number {
  if (c.offset >= XEN_PAGE_SIZE || c.length > XEN_PAGE_SIZE || c.offset + c.length > XEN_PAGE_SIZE)
    return -EINVAL;
  if ((c.op & ~(GNTTAB_CACHE_INVAL | GNTTAB_CACHE_CLEAN)) >>> 0 !== 0) return -EINVAL;
  if (c.length === 0 || c.op === 0) return curRef === 0 ? 0 : -EILSEQ;
  if ((c.op & GNTTAB_CACHE_SOURCE_GREF) !== 0) return -EOPNOTSUPP;
  const addr = c.a.dev_bus_addr;
  if (!isU64(addr)) return -EFAULT;
  const mfn = Math.floor(addr / XEN_PAGE_SIZE);
  if (ownsKnownFrame(d, mfn)) return 0;
  return grantMapExists(hv, d, mfn, curRef) ? 0 : -EINVAL;
}

/**
 * `gnttab_cache_flush()`: each element in turn; the first negative result is returned.
 * `curRef` is the resume ref carried in `cmd`'s continuation bits (0 for a fresh call).
 */
export function cacheFlush(
  hv: XenContext,
  v: Vcpu,
  uop: unknown[],
  count: number,
  curRef: number,
): number {
  let cur = curRef;
  for (let i = 0; i < count; i++) {
    const op = uop[i];
    if (
      !isStruct(op) ||
      !isStruct(op.a) ||
      !isUint(op.offset, 16) ||
      !isUint(op.length, 16) ||
      !isUint(op.op, 32)
    ) {
      return -EFAULT;
    }
    const rc = flushOne(hv, v.domain, op as unknown as CacheFlushArgs, cur);
    if (rc < 0) return rc;
    cur = 0;
  }
  return 0;
}
