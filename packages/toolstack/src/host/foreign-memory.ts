/**
 * Dom0's foreign mappings of a guest's pages: what libxc does through privcmd
 * (`xenforeignmemory_map`) to write a guest's start_info and reserved grant entries while
 * building it. Each page is mapped into a hole of dom0's physmap with
 * XENMEM_add_to_physmap_batch(XENMAPSPACE_gmfn_foreign) and unmapped with
 * XENMEM_remove_from_physmap; Xen's XSM TARGET check decides who may map whom.
 */
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, XENMAPSPACE, XENMEM } from "@pvkit/hypervisor-sim/abi";
import { XenError } from "@pvkit/guest-sdk";
import { guestHighestHoles } from "../xenstored/ring-factory.js";
import { HostError } from "./errors.js";

/** Foreign pages mapped into dom0; `unmap()` / dispose removes them. */
export class ForeignMapping implements Disposable {
  readonly #mapper: Guest;
  readonly #gpfns: number[];
  readonly pages: readonly Page[];

  constructor(mapper: Guest, gpfns: number[], pages: Page[]) {
    this.#mapper = mapper;
    this.#gpfns = gpfns;
    this.pages = pages;
  }

  /** Removes every mapping (idempotent); the pages die. */
  unmap(): void {
    for (const gpfn of this.#gpfns.splice(0)) {
      this.#mapper.hypercall.memory_op(XENMEM.XENMEM_remove_from_physmap, {
        domid: DOMID_SELF,
        gpfn,
      });
    }
  }

  [Symbol.dispose](): void {
    this.unmap();
  }
}

/** Holes of dom0's physmap for `n` foreign pages. @throws HostError ERR_NO_MAP_SLOTS when there is no room. */
function holes(g: Guest, n: number): number[] {
  try {
    return guestHighestHoles(g, n);
  } catch (err) {
    throw new HostError("ERR_NO_MAP_SLOTS", `foreign map: ${(err as Error).message}`);
  }
}

/**
 * Maps GFNs `gfns` of domain `domid` into `mapper` (dom0), writable.
 * @throws XenError (op XENMEM_add_to_physmap_batch) with Xen's errno: `EPERM` when the mapper
 *   may not map `domid`'s memory, `ESRCH` when the domain is unknown or dying, `EINVAL` when a
 *   GFN holds nothing mappable; HostError ERR_NO_MAP_SLOTS when dom0 has no hole left. Nothing
 *   stays mapped on error.
 */
export function mapForeignPages(
  mapper: Guest,
  domid: number,
  gfns: readonly number[],
): ForeignMapping {
  const gpfns = holes(mapper, gfns.length);
  const batch = {
    domid: DOMID_SELF,
    space: XENMAPSPACE.XENMAPSPACE_gmfn_foreign,
    size: gfns.length,
    u: { foreign_domid: domid },
    idxs: [...gfns],
    gpfns,
    errs: gfns.map(() => 0),
  };
  const rc = mapper.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, batch);
  const mapped = gpfns.filter((_, i) => rc === 0 && batch.errs[i] === 0);
  const failed = rc !== 0 ? rc : batch.errs.find((e) => e !== 0);
  const mapping = new ForeignMapping(
    mapper,
    mapped,
    mapped.map((g) => mapper.memory.writablePage(g)),
  );
  if (failed !== undefined) {
    mapping.unmap();
    throw new XenError(
      "XENMEM_add_to_physmap_batch",
      failed,
      `foreign map of d${domid} gfns [${gfns.map((g) => `0x${g.toString(16)}`).join(", ")}]`,
    );
  }
  return mapping;
}
