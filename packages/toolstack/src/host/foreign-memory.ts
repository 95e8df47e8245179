/**
 * Dom0's foreign mappings of a guest's pages: what libxc does through privcmd
 * (`xenforeignmemory_map`, `xenforeignmemory_map_resource`) to write a guest's start_info and
 * its reserved grant entries while building it.
 *
 * The simulator has no foreign-map hypercall yet (no XENMAPSPACE_gmfn_foreign, no
 * XENMEM_acquire_resource), so this module applies Xen's rule itself — only a domain the XSM
 * TARGET check allows (the control domain, or the guest's device model) may map a guest's
 * frames — and then reaches the frame through the guest's physmap, the same bytes a real
 * foreign mapping would alias.
 */
import type { Hypervisor, Page } from "@pvkit/hypervisor-sim";
import { HostError } from "./errors.js";

/**
 * A writable view of GFN `gfn` of domain `domid`, mapped on behalf of `caller`.
 * @throws HostError `EPERM` when `caller` may not map `domid`'s memory, `ESRCH` when either
 *   domain is unknown or dying, `EINVAL` when nothing writable is at `gfn`.
 */
export function mapForeignPage(hv: Hypervisor, caller: number, domid: number, gfn: number): Page {
  const c = hv.domainById(caller);
  const d = hv.domainById(domid);
  if (c === undefined || c.isDying) throw new HostError("ESRCH", `foreign map: no caller domain ${caller}`);
  if (d === undefined || d.isDying) throw new HostError("ESRCH", `foreign map: no domain ${domid}`);
  if (!(c.isPrivileged || c === d || d.target === caller)) {
    throw new HostError("EPERM", `foreign map: d${caller} may not map d${domid}'s memory`);
  }
  try {
    return hv.guest(domid).memory.writablePage(gfn);
  } catch (err) {
    throw new HostError("EINVAL", `foreign map: d${domid} gfn 0x${gfn.toString(16)}: ${(err as Error).message}`);
  }
}
