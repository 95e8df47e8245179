/**
 * GNTTABOP_copy with a TypeScript-shaped op (xen-abi.md §3.6): each side is either a peer's
 * grant ref (`{ ref, domid }`) or one of this guest's own frames (`{ gfn }`, DOMID_SELF), plus
 * a byte offset in the page. Xen checks the bounds (`offset + length > 4096` is
 * GNTST_bad_copy_arg) and the grants; the first failing element surfaces as GrantStatusError
 * with its batch index.
 *
 * ```
 * { from: { ref: 12, domid: 3 }, to: { gfn: 0x200 }, length: 4096 }   // peer's grant -> my page
 * { from: { gfn: 0x200, offset: 64 }, to: { ref: 13, domid: 3 }, length: 112 }
 * ```
 */
import { DOMID_SELF, GNTCOPY, type gnttab_copy, type gnttab_copy_ptr } from "@pvkit/hypervisor-sim/abi";
import { copyGrants, type GnttabHypercalls } from "../hypercall/gnttab-ops.js";

/** A peer's grant: `ref` in `domid`'s grant table (GNTCOPY_*_gref). */
export interface GrantRefEnd {
  readonly ref: number;
  readonly domid: number;
  /** Byte offset in the page. Default 0. */
  readonly offset?: number;
}

/** One of the caller's own frames (DOMID_SELF). */
export interface LocalFrameEnd {
  readonly gfn: number;
  /** Byte offset in the page. Default 0. */
  readonly offset?: number;
}

/** One side of a copy. */
export type GrantCopyEnd = GrantRefEnd | LocalFrameEnd;

/** One element of a GNTTABOP_copy batch. */
export interface GrantCopyOp {
  readonly from: GrantCopyEnd;
  readonly to: GrantCopyEnd;
  /** Bytes to copy (u16; 0 is allowed). */
  readonly length: number;
}

function isRef(end: GrantCopyEnd): end is GrantRefEnd {
  return (end as GrantRefEnd).ref !== undefined;
}

function side(end: GrantCopyEnd): gnttab_copy_ptr {
  return isRef(end)
    ? { u: { ref: end.ref }, domid: end.domid, offset: end.offset ?? 0 }
    : { u: { gmfn: end.gfn }, domid: DOMID_SELF, offset: end.offset ?? 0 };
}

/** The `struct gnttab_copy` for `op`. */
export function toGnttabCopy(op: GrantCopyOp): gnttab_copy {
  const flags = (isRef(op.from) ? GNTCOPY.GNTCOPY_source_gref : 0) | (isRef(op.to) ? GNTCOPY.GNTCOPY_dest_gref : 0);
  return { source: side(op.from), dest: side(op.to), len: op.length, flags };
}

/**
 * Runs `ops` as one GNTTABOP_copy hypercall. Xen processes every element; on failure the
 * others may have been copied (see the error's `batch`).
 * @throws GrantStatusError for the first failing element (`index`): GNTST_bad_copy_arg,
 *   GNTST_bad_gntref, GNTST_general_error (wrong grantee, read-only dest), GNTST_bad_domain, ...
 * @throws XenError when the hypercall itself fails (EFAULT for a malformed op).
 */
export function copyGrantPages(hc: GnttabHypercalls, ops: readonly GrantCopyOp[]): void {
  copyGrants(hc, ops.map(toGnttabCopy));
}
