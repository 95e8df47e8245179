/**
 * A deliberate test hook in GNTTABOP_map_grant_ref: lets a test host make the n-th map of a
 * grant fail with a status Xen really returns there, to show that a backend survives it.
 *
 * The statuses a hook may return, and where Xen 4.17 produces each in `map_grant_ref()`:
 * - `GNTST_bad_gntref`: `ref` at or past the granter's `nr_grant_entries` (the first check on
 *   the granter's table);
 * - `GNTST_no_space`: `get_maptrack_handle()` found no free maptrack entry;
 * - `GNTST_eagain`: the granted frame is paged out (`get_paged_frame()` on a p2m_ram_paging_*
 *   entry); the caller is expected to retry (Linux: `gnttab_retry_eagain_gop`).
 *
 * The hook runs for each element after the argument checks (a malformed element still gets
 * -EFAULT, a bad flag combination its own status) and before any state changes: an injected
 * failure leaves no pin, no maptrack handle and no mapping behind, exactly like Xen's early
 * exits. Nothing is installed by default; it costs one WeakMap lookup per element.
 */
import { GNTST, type gnttab_map_grant_ref } from "../abi/grant-table.js";
import type { Scheduler } from "../sched/scheduler.js";
import type { XenContext } from "../xen-context.js";

/** The statuses a map fault may inject (see the file header). */
export const GRANT_MAP_FAULT_STATUSES = [
  "GNTST_eagain",
  "GNTST_no_space",
  "GNTST_bad_gntref",
] as const;
export type GrantMapFaultStatus = (typeof GRANT_MAP_FAULT_STATUSES)[number];

/** One map element as the hook sees it. */
export interface GrantMapAttempt {
  /** The mapping domain (the caller). */
  readonly mapper: number;
  /** The granting domain (`op.dom`). */
  readonly granter: number;
  /** The grant reference (`op.ref`). */
  readonly ref: number;
  /** GNTMAP_* flags of the element. */
  readonly flags: number;
}

/** Returns a status to fail the element with, or undefined to let the map proceed. */
export type GrantMapFaultHook = (attempt: GrantMapAttempt) => GrantMapFaultStatus | undefined;

/** Hooks by the hypervisor's scheduler: one object the public Hypervisor and its machine share. */
const hooks = new WeakMap<Scheduler, GrantMapFaultHook>();

/**
 * Installs (or, with `undefined`, removes) the map fault hook of `hv`. One hook per hypervisor;
 * installing replaces the previous one.
 */
export function setGrantMapFaultHook(
  hv: { readonly scheduler: Scheduler },
  hook: GrantMapFaultHook | undefined,
): void {
  if (hook === undefined) hooks.delete(hv.scheduler);
  else hooks.set(hv.scheduler, hook);
}

/** The call site in map.ts (not exported from the package): the GNTST code to fail `op` with, or undefined. */
export function grantMapFault(
  hv: XenContext,
  mapper: number,
  op: gnttab_map_grant_ref,
): number | undefined {
  const hook = hooks.get(hv.scheduler);
  if (hook === undefined) return undefined;
  const s = hook({ mapper, granter: op.dom, ref: op.ref, flags: op.flags });
  if (s === undefined) return undefined;
  if (!GRANT_MAP_FAULT_STATUSES.includes(s))
    throw new RangeError(
      `grant map fault hook returned ${String(s)}, not one of ${GRANT_MAP_FAULT_STATUSES.join(", ")}`,
    );
  return GNTST[s];
}
