/**
 * A domain's grant table (v1). PLACEHOLDER: the full implementation (frames, active entries,
 * pins, maptrack) lands in the gnttab work; this keeps the Hypervisor's contract compilable.
 */
import type { Domain } from "../domain/domain.js";
import type { Hypervisor } from "../hypervisor.js";

export class GrantTable {
  constructor(
    readonly domain: Domain,
    readonly hv: Hypervisor,
  ) {}

  /** Live mappings other domains hold of this domain's grants (keeps a dying domain around). */
  get mappedByOthers(): number {
    return 0;
  }

  /** On domain destruction: unmap every mapping this domain holds of other domains' grants. */
  releaseMappings(): void {}

  /** XENMEM_add_to_physmap(XENMAPSPACE_grant_table): place frame `idx` at `gpfn`. 0 or -errno. */
  addToPhysmap(_idx: number, _gpfn: number): number {
    return -22;
  }
}
