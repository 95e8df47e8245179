/**
 * Typed wrappers over HYPERVISOR_grant_table_op (`xen/include/public/grant_table.h`).
 *
 * A grant-table hypercall fails in two ways (`xen/common/grant_table.c`: `do_grant_table_op`
 * and the per-op functions): the hypercall result is a negative errno (bad count, unknown op,
 * unreadable arguments → `XenError`), or the hypercall returns 0 and an element's `status` is a
 * negative `GNTST_*` (→ `GrantStatusError`, with the index of the first failing element and the
 * whole batch as Xen wrote it back).
 *
 * These stay thin: argument structs use Xen's field names and are returned with their OUT
 * fields filled. The grant client (grant/end access, XSA-396 rules) is built on top of them.
 */
import type { Hypercalls } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  GNTMAP,
  GNTST,
  GNTTABOP,
  type gnttab_copy,
  type gnttab_map_grant_ref,
  type gnttab_query_size,
  type gnttab_setup_table,
  type gnttab_unmap_grant_ref,
} from "@pvkit/hypervisor-sim/abi";
import { GrantStatusError, XenError } from "../errors.js";

/** The part of a vCPU's hypercall surface these wrappers use. */
export type GnttabHypercalls = Pick<Hypercalls, "grant_table_op">;

/** Index of the first element whose status is not GNTST_okay, or -1. */
function firstFailure(batch: readonly { status?: number }[]): number {
  return batch.findIndex((e) => e.status !== GNTST.GNTST_okay);
}

/**
 * GNTTABOP_map_grant_ref over the whole batch. On success every element has `handle` (and
 * `dev_bus_addr`) filled; the same array is returned.
 *
 * All or nothing: if any element fails, the elements that did map are unmapped again before
 * `GrantStatusError` is thrown (its `batch` still shows what Xen answered for each element), so
 * a failed call leaves no mapping behind.
 * @throws XenError when the hypercall itself fails (e.g. EFAULT, EINVAL count).
 * @throws GrantStatusError for the first element with a GNTST_* failure (bad_domain, bad_gntref,
 *   permission_denied, no_space, ...).
 */
export function mapGrantRefs(
  hc: GnttabHypercalls,
  ops: gnttab_map_grant_ref[],
): gnttab_map_grant_ref[] {
  for (const op of ops) op.status = GNTST.GNTST_general_error;
  XenError.check(
    "GNTTABOP_map_grant_ref",
    hc.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, ops, ops.length),
  );
  const bad = firstFailure(ops);
  if (bad < 0) return ops;
  const undo: gnttab_unmap_grant_ref[] = ops
    .filter((op) => op.status === GNTST.GNTST_okay)
    .map((op) => ({
      host_addr: (op.flags & GNTMAP.GNTMAP_host_map) !== 0 ? op.host_addr : 0,
      dev_bus_addr: (op.flags & GNTMAP.GNTMAP_device_map) !== 0 ? (op.dev_bus_addr ?? 0) : 0,
      handle: op.handle ?? 0,
    }));
  let detail = "";
  if (undo.length > 0) {
    const rc = hc.grant_table_op(GNTTABOP.GNTTABOP_unmap_grant_ref, undo, undo.length);
    const left = rc < 0 ? undo.length : undo.filter((u) => u.status !== GNTST.GNTST_okay).length;
    detail =
      left === 0
        ? `${undo.length} mapped element(s) unmapped again`
        : `rollback left ${left} mapping(s)`;
  }
  throw new GrantStatusError("GNTTABOP_map_grant_ref", bad, ops[bad]!.status!, ops, detail);
}

/**
 * GNTTABOP_unmap_grant_ref over the whole batch. Xen processes every element; the first
 * failing one is reported.
 * @throws XenError when the hypercall itself fails.
 * @throws GrantStatusError (bad_handle, general_error for a host_addr that does not match, ...).
 */
export function unmapGrantRefs(
  hc: GnttabHypercalls,
  ops: gnttab_unmap_grant_ref[],
): gnttab_unmap_grant_ref[] {
  for (const op of ops) op.status = GNTST.GNTST_general_error;
  XenError.check(
    "GNTTABOP_unmap_grant_ref",
    hc.grant_table_op(GNTTABOP.GNTTABOP_unmap_grant_ref, ops, ops.length),
  );
  const bad = firstFailure(ops);
  if (bad >= 0) throw new GrantStatusError("GNTTABOP_unmap_grant_ref", bad, ops[bad]!.status!, ops);
  return ops;
}

/**
 * GNTTABOP_copy over the whole batch (bytes move between grant refs or own frames).
 * @throws XenError when the hypercall itself fails.
 * @throws GrantStatusError (bad_copy_arg for offset + len > 4096, bad_gntref, permission_denied, ...).
 */
export function copyGrants(hc: GnttabHypercalls, ops: gnttab_copy[]): gnttab_copy[] {
  for (const op of ops) op.status = GNTST.GNTST_general_error;
  XenError.check("GNTTABOP_copy", hc.grant_table_op(GNTTABOP.GNTTABOP_copy, ops, ops.length));
  const bad = firstFailure(ops);
  if (bad >= 0) throw new GrantStatusError("GNTTABOP_copy", bad, ops[bad]!.status!, ops);
  return ops;
}

/**
 * GNTTABOP_setup_table: makes the first `nrFrames` grant-table frames of `dom` (default: the
 * caller) exist and returns their frame numbers (GFNs for a translated guest).
 * @throws XenError (EFAULT, EINVAL).
 * @throws GrantStatusError (bad_domain, permission_denied, general_error when over the maximum).
 */
export function setupTable(
  hc: GnttabHypercalls,
  nrFrames: number,
  dom: number = DOMID_SELF,
): number[] {
  const op: gnttab_setup_table = {
    dom,
    nr_frames: nrFrames,
    frame_list: new Array<number>(nrFrames).fill(0),
  };
  op.status = GNTST.GNTST_general_error;
  XenError.check("GNTTABOP_setup_table", hc.grant_table_op(GNTTABOP.GNTTABOP_setup_table, [op], 1));
  if (op.status !== GNTST.GNTST_okay)
    throw new GrantStatusError("GNTTABOP_setup_table", 0, op.status!, [op]);
  return op.frame_list.slice(0, nrFrames);
}

/** What GNTTABOP_query_size reports, in grant-table frames (4 KiB each). */
export interface GrantTableSize {
  readonly nrFrames: number;
  readonly maxNrFrames: number;
}

/**
 * GNTTABOP_query_size of `dom` (default: the caller).
 * @throws XenError (EFAULT).
 * @throws GrantStatusError (bad_domain, permission_denied).
 */
export function querySize(hc: GnttabHypercalls, dom: number = DOMID_SELF): GrantTableSize {
  const op: gnttab_query_size = { dom, status: GNTST.GNTST_general_error };
  XenError.check("GNTTABOP_query_size", hc.grant_table_op(GNTTABOP.GNTTABOP_query_size, [op], 1));
  if (op.status !== GNTST.GNTST_okay)
    throw new GrantStatusError("GNTTABOP_query_size", 0, op.status!, [op]);
  return { nrFrames: op.nr_frames ?? 0, maxNrFrames: op.max_nr_frames ?? 0 };
}
