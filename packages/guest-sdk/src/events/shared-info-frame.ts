/**
 * Where a guest's shared_info page is mapped in its physmap (XENMEM_add_to_physmap with
 * XENMAPSPACE_shared_info, `memory.h`), remembered per guest so that the event subsystem and the
 * clock — both readers of the one page — agree on the frame without either setting up the other.
 */
import type { Guest } from "@pvkit/hypervisor-sim";
import { addSharedInfoToPhysmap } from "../hypercall/memory-ops.js";
import { highestHoles } from "../memory/holes.js";

const frames = new WeakMap<Guest, number>();

/**
 * Maps the guest's shared_info at `gfn`, or where this SDK last mapped it, or else at the
 * highest hole below the grant-table window (GNTTAB_GFN_BASE); returns the frame. Mapping at the
 * frame it already occupies is a no-op in Xen; another frame moves it (the old one becomes a hole).
 * @throws RangeError if no hole is left for the default; XenError EINVAL from the hypercall.
 * @internal
 */
export function mapSharedInfo(guest: Guest, gfn: number | undefined, vcpu = 0): number {
  const at = gfn ?? frames.get(guest) ?? defaultSharedInfoGfn(guest);
  addSharedInfoToPhysmap(guest.vcpu(vcpu), at);
  frames.set(guest, at);
  return at;
}

/** The frame `mapSharedInfo` last mapped shared_info at for `guest`, if any. @internal */
export function mappedSharedInfo(guest: Guest): number | undefined {
  return frames.get(guest);
}

function defaultSharedInfoGfn(guest: Guest): number {
  try {
    return highestHoles(guest.memory, 1)[0]!;
  } catch {
    throw new RangeError(
      "no hole below the grant-table window for shared_info; pass sharedInfoGfn",
    );
  }
}
