/**
 * HYPERVISOR_grant_table_op (`do_grant_table_op`, Xen 4.17), its top-level rules in Xen's
 * order:
 *
 * 1. `(int)count < 0` → -EINVAL (a count that is not a u32/s32 integer is -EINVAL too);
 * 2. bits 12 and up of `cmd` (continuation state) on any op but cache_flush → -EINVAL;
 * 3. unknown cmd (dump_table included: 4.17 has no handler) → -ENOSYS;
 * 4. batched ops: an argument that is not an array of at least `count` elements → -EFAULT
 *    before any element is looked at; setup_table, query_size and get_status_frames need
 *    count == 1 (-EINVAL); set_version and get_version ignore count.
 *
 * Batched ops (map, unmap, unmap_and_replace, copy, swap) process every element, each with its
 * own GNTST_* status, and return 0. Continuations are invisible: every batch runs to the end.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { GNTTABOP } from "../abi/grant-table.js";
import type { Vcpu } from "../domain/vcpu.js";
import type { XenContext } from "../xen-context.js";
import { cacheFlush } from "./cache-flush.js";
import { gnttabCopy } from "./copy.js";
import { handleOkay } from "./guest-args.js";
import { gnttabMapGrantRef, gnttabUnmapAndReplace, gnttabUnmapGrantRef } from "./map.js";
import {
  getStatusFrames,
  getVersion,
  querySize,
  setupTable,
  setVersion,
  swapGrantRef,
  transfer,
} from "./table-ops.js";

const { EINVAL, EFAULT, ENOSYS } = XEN_ERRNO;

/** `GNTTABOP_CMD_MASK`: the low 12 bits of `cmd` select the op. */
export const GNTTABOP_CMD_MASK = (1 << 12) - 1;

/** `cmd` or `count` as the u32 register value, or undefined for a non-integer. */
function asU32(x: unknown): number | undefined {
  if (typeof x !== "number" || !Number.isInteger(x) || x < -(2 ** 31) || x > 0xffffffff)
    return undefined;
  return x >>> 0;
}

/**
 * The whole grant_table_op hypercall issued by vCPU `v`. `args` is the guest's argument array
 * (one struct per element, OUT fields written back into it). Returns 0 or a negative errno.
 */
export function grantTableOp(
  hv: XenContext,
  v: Vcpu,
  cmd: number,
  args: unknown,
  count: number,
): number {
  const n = asU32(count);
  if (n === undefined || (n | 0) < 0) return -EINVAL;
  const c = asU32(cmd);
  if (c === undefined) return -ENOSYS;
  const op = c & GNTTABOP_CMD_MASK;
  const opaque = (c & ~GNTTABOP_CMD_MASK) >>> 0;
  if (op !== GNTTABOP.GNTTABOP_cache_flush && opaque !== 0) return -EINVAL;
  const list = (Array.isArray(args) ? args : []) as unknown[];

  switch (op) {
    case GNTTABOP.GNTTABOP_map_grant_ref:
      return handleOkay(args, n) ? gnttabMapGrantRef(hv, v, list, n) : -EFAULT;
    case GNTTABOP.GNTTABOP_unmap_grant_ref:
      return handleOkay(args, n) ? gnttabUnmapGrantRef(hv, v, list, n) : -EFAULT;
    case GNTTABOP.GNTTABOP_unmap_and_replace:
      return handleOkay(args, n) ? gnttabUnmapAndReplace(hv, v, list, n) : -EFAULT;
    case GNTTABOP.GNTTABOP_setup_table:
      return n !== 1 ? -EINVAL : Array.isArray(args) ? setupTable(hv, v, list, n) : -EFAULT;
    case GNTTABOP.GNTTABOP_transfer:
      return handleOkay(args, n) ? transfer() : -EFAULT;
    case GNTTABOP.GNTTABOP_copy:
      return handleOkay(args, n) ? gnttabCopy(hv, v, list, n) : -EFAULT;
    case GNTTABOP.GNTTABOP_query_size:
      return n !== 1 ? -EINVAL : Array.isArray(args) ? querySize(hv, v, list, n) : -EFAULT;
    case GNTTABOP.GNTTABOP_set_version:
      return setVersion(hv, v, list);
    case GNTTABOP.GNTTABOP_get_status_frames:
      return n !== 1 ? -EINVAL : Array.isArray(args) ? getStatusFrames(hv, v, list, n) : -EFAULT;
    case GNTTABOP.GNTTABOP_get_version:
      return getVersion(hv, v, list);
    case GNTTABOP.GNTTABOP_swap_grant_ref:
      return handleOkay(args, n) ? swapGrantRef(hv, v, list, n) : -EFAULT;
    case GNTTABOP.GNTTABOP_cache_flush:
      return handleOkay(args, n) ? cacheFlush(hv, v, list, n, opaque) : -EFAULT;
    default:
      return -ENOSYS;
  }
}
