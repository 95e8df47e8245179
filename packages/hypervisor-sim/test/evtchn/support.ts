// Helpers for the event-channel tests: a small world of domains, hypercall shorthands, and
// readers of the 2-level bits as a guest sees them in its mapped shared_info page.
import { type DomainOptions, type Guest, Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  EVTCHNOP,
  type evtchn_status,
  SHINFO_EVTCHN_MASK,
  SHINFO_EVTCHN_PENDING,
  VCPU_INFO_PENDING_SEL,
  VCPU_INFO_SIZE,
  VCPU_INFO_UPCALL_PENDING,
  XEN_DOMCTL_irq_permission,
  XEN_ERRNO,
  XENMAPSPACE,
  XENMEM,
} from "@pvkit/hypervisor-sim/abi";

export const {
  EPERM,
  ENOENT,
  ESRCH,
  EINVAL,
  ENOSPC,
  EEXIST,
  EBUSY,
  EACCES,
  ENOSYS,
  EFAULT,
  EOPNOTSUPP,
} = XEN_ERRNO;

/** Where the tests map shared_info in every guest. */
export const SHINFO_GFN = 0x10000;

/** A manual-mode hypervisor with dom0 plus one domU per entry of `domUs`. */
export function world(...domUs: DomainOptions[]): { hv: Hypervisor; dom0: Guest; domUs: Guest[] } {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain({ vcpus: 2 });
  const guests = domUs.map((o) => hv.guest(hv.createDomain(o).domid));
  return { hv, dom0: hv.guest(0), domUs: guests };
}

/** Maps the guest's shared_info at SHINFO_GFN and returns the page (as a guest kernel would). */
export function shinfo(g: Guest): Page {
  const rc = g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
    domid: DOMID_SELF,
    space: XENMAPSPACE.XENMAPSPACE_shared_info,
    idx: 0,
    gpfn: SHINFO_GFN,
  });
  if (rc !== 0) throw new Error(`add_to_physmap(shared_info) = ${rc}`);
  return g.memory.writablePage(SHINFO_GFN);
}

function bit(p: Page, byteOff: number, b: number): boolean {
  return (p.getU8(byteOff + (b >>> 3)) & (1 << (b & 7))) !== 0;
}
function setBit(p: Page, byteOff: number, b: number, on: boolean): void {
  const at = byteOff + (b >>> 3);
  const m = 1 << (b & 7);
  p.setU8(at, on ? p.getU8(at) | m : p.getU8(at) & ~m);
}

export const pending = (p: Page, port: number): boolean => bit(p, SHINFO_EVTCHN_PENDING, port);
export const masked = (p: Page, port: number): boolean => bit(p, SHINFO_EVTCHN_MASK, port);
/** The guest sets or clears a mask bit itself (no hypercall). */
export const setMask = (p: Page, port: number, on: boolean): void =>
  setBit(p, SHINFO_EVTCHN_MASK, port, on);
/** The guest clears a pending bit itself. */
export const clearPendingBit = (p: Page, port: number): void =>
  setBit(p, SHINFO_EVTCHN_PENDING, port, false);
/** Selector bit `word` of vCPU `vcpu`'s evtchn_pending_sel. */
export const sel = (p: Page, vcpu: number, word: number): boolean =>
  bit(p, vcpu * VCPU_INFO_SIZE + VCPU_INFO_PENDING_SEL, word);
export const setSel = (p: Page, vcpu: number, word: number, on: boolean): void =>
  setBit(p, vcpu * VCPU_INFO_SIZE + VCPU_INFO_PENDING_SEL, word, on);
export const upcallPending = (p: Page, vcpu: number): boolean =>
  (p.getU8(vcpu * VCPU_INFO_SIZE + VCPU_INFO_UPCALL_PENDING) & 1) !== 0;
export const setUpcallPending = (p: Page, vcpu: number, v: 0 | 1): void =>
  p.setU8(vcpu * VCPU_INFO_SIZE + VCPU_INFO_UPCALL_PENDING, v);

/** Clears every selector bit and upcall_pending of `vcpu`, as an upcall handler's entry does. */
export function ackVcpu(p: Page, vcpu: number): void {
  setUpcallPending(p, vcpu, 0);
  p.setU64(vcpu * VCPU_INFO_SIZE + VCPU_INFO_PENDING_SEL, 0);
}

/** Counts set bits in a byte range (pending or mask bitmap, a selector word). */
export function popcount(p: Page, off: number, len: number): number {
  let n = 0;
  for (let i = 0; i < len; i++) {
    let b = p.getU8(off + i);
    while (b) {
      n += b & 1;
      b >>>= 1;
    }
  }
  return n;
}

/** Ports whose pending bit is set. */
export function pendingPorts(p: Page): number[] {
  const out: number[] = [];
  for (let port = 0; port < 4096; port++) if (pending(p, port)) out.push(port);
  return out;
}

// ---- hypercall shorthands (return [rc, out]) ------------------------------------------------

const U32_SENTINEL = 0xdeadbeef;

export function allocUnbound(
  g: Guest,
  remote_dom: number,
  dom = DOMID_SELF,
  vcpu = 0,
): [number, number] {
  const a = { dom, remote_dom, port: U32_SENTINEL };
  const rc = g.vcpu(vcpu).event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, a);
  return [rc, a.port];
}

export function bindInterdomain(
  g: Guest,
  remote_dom: number,
  remote_port: number,
): [number, number] {
  const a = { remote_dom, remote_port, local_port: U32_SENTINEL };
  const rc = g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, a);
  return [rc, a.local_port];
}

export function bindVirq(g: Guest, virq: number, vcpu: number): [number, number] {
  const a = { virq, vcpu, port: U32_SENTINEL };
  const rc = g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, a);
  return [rc, a.port];
}

export function bindIpi(g: Guest, vcpu: number): [number, number] {
  const a = { vcpu, port: U32_SENTINEL };
  const rc = g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_ipi, a);
  return [rc, a.port];
}

export function bindPirq(g: Guest, pirq: number, flags = 0): [number, number] {
  const a = { pirq, flags, port: U32_SENTINEL };
  const rc = g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_pirq, a);
  return [rc, a.port];
}

export const close = (g: Guest, port: number): number =>
  g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_close, { port });
export const send = (g: Guest, port: number, vcpu = 0): number =>
  g.vcpu(vcpu).event_channel_op(EVTCHNOP.EVTCHNOP_send, { port });
export const unmask = (g: Guest, port: number, vcpu = 0): number =>
  g.vcpu(vcpu).event_channel_op(EVTCHNOP.EVTCHNOP_unmask, { port });
export const bindVcpu = (g: Guest, port: number, vcpu: number): number =>
  g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_vcpu, { port, vcpu });
export const reset = (g: Guest, dom: number): number =>
  g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_reset, { dom });
export const resetCont = (g: Guest, dom: number): number =>
  g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_reset_cont, { dom });

/** EVTCHNOP_status; `s` keeps the sentinel OUT fields when the call fails. */
export function status(g: Guest, port: number, dom = DOMID_SELF): { rc: number; s: evtchn_status } {
  const s: evtchn_status = { dom, port, status: U32_SENTINEL, vcpu: U32_SENTINEL };
  const rc = g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_status, s);
  return { rc, s };
}

/** dom0 grants `domid` access to `pirq` (XEN_DOMCTL_irq_permission). */
export function permitPirq(hv: Hypervisor, domid: number, pirq: number): void {
  const rc = hv.guest(0).hypercall.domctl({
    cmd: XEN_DOMCTL_irq_permission,
    domain: domid,
    u: { irq_permission: { pirq, allow_access: 1 } },
  });
  if (rc !== 0) throw new Error(`irq_permission = ${rc}`);
}

/** `a` allocates an unbound port for `b`, `b` binds it. Returns [port in a, port in b]. */
export function connect(a: Guest, b: Guest): [number, number] {
  const [rc1, pa] = allocUnbound(a, b.domid);
  if (rc1 !== 0) throw new Error(`alloc_unbound = ${rc1}`);
  const [rc2, pb] = bindInterdomain(b, a.domid, pa);
  if (rc2 !== 0) throw new Error(`bind_interdomain = ${rc2}`);
  return [pa, pb];
}

/** Allocates unbound ports until one fails; returns the ports and the failing rc. */
export function fill(g: Guest, remote = 0, limit = 5000): { ports: number[]; rc: number } {
  const ports: number[] = [];
  for (let i = 0; i < limit; i++) {
    const [rc, port] = allocUnbound(g, remote);
    if (rc !== 0) return { ports, rc };
    ports.push(port);
  }
  throw new Error("fill: no failure within limit");
}

export { U32_SENTINEL };
