// Shared test helpers: map a guest's shared_info and bind simple channels through hypercalls.
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, EVTCHNOP, XENMAPSPACE, XENMEM } from "@pvkit/hypervisor-sim/abi";

export const SHINFO_GFN = 0x10000;

/** Maps shared_info into the guest at SHINFO_GFN (XENMEM_add_to_physmap) and returns the page. */
export function mapSharedInfo(g: Guest): Page {
  const rc = g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
    domid: DOMID_SELF,
    space: XENMAPSPACE.XENMAPSPACE_shared_info,
    idx: 0,
    gpfn: SHINFO_GFN,
  });
  if (rc !== 0) throw new Error(`add_to_physmap: ${rc}`);
  return g.memory.writablePage(SHINFO_GFN);
}

/** Binds an interdomain channel: `a` allocates, `b` binds. Returns [portInA, portInB]. */
export function connect(a: Guest, b: Guest): [number, number] {
  const u = { dom: DOMID_SELF, remote_dom: b.domid, port: 0 };
  if (a.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, u) !== 0)
    throw new Error("alloc_unbound");
  const i = { remote_dom: a.domid, remote_port: u.port, local_port: 0 };
  if (b.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, i) !== 0)
    throw new Error("bind_interdomain");
  return [u.port, i.local_port];
}

/** A minimal 2-level upcall handler, as Mini-OS does it: clears upcall_pending, takes the selector, clears and records pending unmasked ports. */
export function miniUpcall(sh: Page, vcpu: number, seen: number[]): () => void {
  const vi = vcpu * 64;
  return () => {
    sh.setU8(vi, 0);
    const lo = sh.getU32(vi + 8);
    const hi = sh.getU32(vi + 12);
    sh.setU32(vi + 8, 0);
    sh.setU32(vi + 12, 0);
    for (let w = 0; w < 64; w++) {
      const bit = w < 32 ? (lo >>> w) & 1 : (hi >>> (w - 32)) & 1;
      if (!bit) continue;
      for (let b = 0; b < 64; b++) {
        const port = w * 64 + b;
        const byte = port >>> 3;
        const m = 1 << (port & 7);
        if (sh.getU8(0x800 + byte) & m && !(sh.getU8(0xa00 + byte) & m)) {
          sh.setU8(0x800 + byte, sh.getU8(0x800 + byte) & ~m);
          seen.push(port);
        }
      }
    }
  };
}
