/**
 * Event send → upcall delivery throughput. The receiver has `bound` ports bound (interdomain
 * channels from the sender); the sender sends on one of them; each event is delivered as its
 * own upcall (send, run the scheduler, the guest's 2-level handler clears it).
 */
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, EVTCHNOP, XENMAPSPACE, XENMEM } from "@pvkit/hypervisor-sim/abi";
import { bench, type BenchResult } from "./harness.js";

export function sendDeliver(bound: number): BenchResult {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain({ maxEvtchnPort: 4095 });
  const du = hv.createDomain({ maxEvtchnPort: 4095 });
  const rx = hv.guest(0);
  const tx = hv.guest(du.domid);
  rx.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
    domid: DOMID_SELF,
    space: XENMAPSPACE.XENMAPSPACE_shared_info,
    idx: 0,
    gpfn: 0x10000,
  });
  const sh = rx.memory.writablePage(0x10000);
  const txPorts: number[] = [];
  for (let i = 0; i < bound; i++) {
    const a = { dom: DOMID_SELF, remote_dom: du.domid, port: 0 };
    if (rx.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, a) !== 0)
      throw new Error(`alloc ${i}`);
    const b = { remote_dom: 0, remote_port: a.port, local_port: 0 };
    if (tx.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, b) !== 0)
      throw new Error(`bind ${i}`);
    txPorts.push(b.local_port);
  }
  let handled = 0;
  // A Linux-style 2-level handler: clear upcall_pending, take the selector, then for each set
  // selector bit (find-first-set, as Linux does) clear and count the active ports of that word.
  rx.registerUpcall(0, () => {
    sh.setU8(0, 0);
    const sel = [sh.getU32(8), sh.getU32(12)];
    sh.setU32(8, 0);
    sh.setU32(12, 0);
    for (let half = 0; half < 2; half++) {
      for (let bits = sel[half]!; bits !== 0; bits &= bits - 1) {
        const w = half * 32 + (31 - Math.clz32(bits & -bits));
        for (let h = 0; h < 2; h++) {
          const off = w * 8 + h * 4;
          const pending = sh.getU32(0x800 + off);
          const active = pending & ~sh.getU32(0xa00 + off);
          if (active === 0) continue;
          sh.setU32(0x800 + off, (pending & ~active) >>> 0);
          for (let a = active; a !== 0; a &= a - 1) handled++;
        }
      }
    }
  });
  hv.runUntilIdle();
  const port = txPorts[txPorts.length - 1]!;
  const arg = { port };
  const send = tx.hypercall;
  return bench(`evtchn send→upcall, ${bound} bound port(s)`, (n) => {
    const start = handled;
    for (let i = 0; i < n; i++) {
      send.event_channel_op(EVTCHNOP.EVTCHNOP_send, arg);
      hv.runUntilIdle();
    }
    if (handled - start !== n) throw new Error(`lost events: ${handled - start} of ${n}`);
    return n;
  });
}
