/**
 * Where a translated guest puts pages that are not its RAM: holes of its physmap between the top
 * of RAM and the grant-table window (GNTTAB_GFN_BASE), highest first — shared_info, foreign
 * mappings made by dom0, grant mappings outside a mapper's own area.
 */
import { GNTTAB_GFN_BASE, type GuestMemory } from "@pvkit/hypervisor-sim";

/**
 * The `n` highest holes of `memory` below GNTTAB_GFN_BASE and above RAM, highest first.
 * @throws RangeError when there are fewer than `n`.
 */
export function highestHoles(memory: Pick<GuestMemory, "nrPages" | "isHole">, n: number): number[] {
  const out: number[] = [];
  for (let gfn = GNTTAB_GFN_BASE - 1; gfn >= memory.nrPages && out.length < n; gfn--) {
    if (memory.isHole(gfn)) out.push(gfn);
  }
  if (out.length < n) throw new RangeError(`fewer than ${n} holes below the grant-table window`);
  return out;
}
