/**
 * "Handling inter-domain interrupts in Dom0": an application in a domU wants to tell dom0 that
 * something happened. The answer is an interdomain event channel: dom0 allocates an unbound port
 * that accepts the domU, the domU binds to it and sends; dom0's upcall sees the port.
 *
 * The tempting wrong answer is a VIRQ: VIRQs are raised by Xen itself, never by a guest.
 * A domU that binds one gets a port in *its own* domain; EVTCHNOP_send on it is -EINVAL, and a
 * global VIRQ such as VIRQ_DOM_EXC is only ever delivered to dom0's own binding. Nothing the domU
 * does with its VIRQ port reaches dom0. This program shows both.
 */
import { type Guest, Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  EVTCHNOP,
  VIRQ,
  XENMAPSPACE,
  XENMEM,
  errnoName,
} from "@pvkit/hypervisor-sim/abi";

const SHINFO_GFN = 0x10000;

function mapSharedInfo(g: Guest): Page {
  const rc = g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
    domid: DOMID_SELF,
    space: XENMAPSPACE.XENMAPSPACE_shared_info,
    idx: 0,
    gpfn: SHINFO_GFN,
  });
  if (rc !== 0) throw new Error(`add_to_physmap: ${rc}`);
  return g.memory.writablePage(SHINFO_GFN);
}

/** A 2-level scan that returns and clears every pending, unmasked port of vCPU 0. */
function takePending(sh: Page): number[] {
  sh.setU8(0, 0);
  const out: number[] = [];
  const sel = [sh.getU32(8), sh.getU32(12)];
  sh.setU32(8, 0);
  sh.setU32(12, 0);
  for (let w = 0; w < 64; w++) {
    if (((sel[w >> 5]! >>> (w & 31)) & 1) === 0) continue;
    for (let b = 0; b < 64; b++) {
      const port = w * 64 + b;
      const m = 1 << (port & 7);
      const at = port >>> 3;
      if (sh.getU8(0x800 + at) & m && !(sh.getU8(0xa00 + at) & m)) {
        sh.setU8(0x800 + at, sh.getU8(0x800 + at) & ~m);
        out.push(port);
      }
    }
  }
  return out;
}

export interface NotifyResult {
  /** Ports dom0's upcall saw, in order. */
  dom0Saw: number[];
  /** dom0's port for the domU's notifications. */
  dom0Port: number;
  /** What EVTCHNOP_send on the domU's own VIRQ port returned. */
  virqSendResult: number;
  /** Ports dom0 saw when Xen raised VIRQ_DOM_EXC. */
  virqToDom0: number[];
  /** dom0's VIRQ_DOM_EXC port. */
  dom0ExcPort: number;
  /** The domU's VIRQ_DOM_EXC port's pending bit after that (always 0). */
  domUVirqPending: number;
}

export async function runNotify(log: (line: string) => void = console.log): Promise<NotifyResult> {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain({ name: "Domain-0" });
  const dom0 = hv.guest(0);
  const domU = hv.guest(hv.createDomain({ name: "app" }).domid);
  const sh0 = mapSharedInfo(dom0);
  const dom0Saw: number[] = [];
  dom0.registerUpcall(0, () => dom0Saw.push(...takePending(sh0)));

  // 1. The wrong way: the domU binds a VIRQ and tries to "raise" it.
  const virq = { virq: VIRQ.VIRQ_DOM_EXC, vcpu: 0, port: 0 };
  const bindRc = domU.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, virq);
  log(
    `domU d${domU.domid}: bind_virq(VIRQ_DOM_EXC) → ${bindRc}, port ${virq.port} in the domU's own table`,
  );
  const virqSendResult = domU.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, {
    port: virq.port,
  });
  log(`domU: send on its VIRQ port → -${errnoName(virqSendResult)} (only Xen raises VIRQs)`);
  hv.runUntilIdle();
  log(`dom0: upcall saw ${dom0Saw.length === 0 ? "nothing" : dom0Saw.join(",")}`);

  // Even when Xen itself raises that global VIRQ (a domain dies), it goes to dom0's binding only.
  const dom0Exc = { virq: VIRQ.VIRQ_DOM_EXC, vcpu: 0, port: 0 };
  dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, dom0Exc);
  const victim = hv.createDomain({ name: "short-lived" });
  hv.destroyDomain(victim.domid);
  hv.runUntilIdle();
  const shU = mapSharedInfo(domU);
  const domUPending = (shU.getU8(0x800 + (virq.port >>> 3)) >> (virq.port & 7)) & 1;
  log(
    `Xen: d${victim.domid} destroyed → VIRQ_DOM_EXC; dom0 saw port ${dom0Saw.join(",")}, domU's VIRQ port pending=${domUPending}`,
  );
  const virqToDom0 = dom0Saw.splice(0);

  // 2. The right way: dom0 offers an unbound port to the domU; the domU binds it and sends.
  const alloc = { dom: DOMID_SELF, remote_dom: domU.domid, port: 0 };
  dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, alloc);
  log(
    `dom0: alloc_unbound for d${domU.domid} → port ${alloc.port} (published through xenstore in real life)`,
  );
  const bind = { remote_dom: 0, remote_port: alloc.port, local_port: 0 };
  domU.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, bind);
  domU.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: bind.local_port });
  log(
    `domU: bound local port ${bind.local_port} to dom0:${alloc.port} and sent "something happened"`,
  );
  hv.runUntilIdle();
  log(`dom0: upcall saw port(s) ${dom0Saw.join(",")}`);
  return {
    dom0Saw,
    dom0Port: alloc.port,
    virqSendResult,
    virqToDom0,
    dom0ExcPort: dom0Exc.port,
    domUVirqPending: domUPending,
  };
}
