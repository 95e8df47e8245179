// Preconditions of the port-creating EVTCHNOPs, in Xen 4.17's check order (`event_channel.c`):
// alloc_unbound, bind_interdomain, bind_virq, bind_ipi, bind_pirq.
import { describe, expect, it } from "vitest";
import {
  BIND_PIRQ__WILL_SHARE,
  DOMID_SELF,
  EVTCHNSTAT,
  NR_VIRQS,
  VIRQ,
} from "@pvkit/hypervisor-sim/abi";
import {
  allocUnbound,
  bindInterdomain,
  bindIpi,
  bindPirq,
  bindVcpu,
  bindVirq,
  close,
  EBUSY,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOSPC,
  EPERM,
  ESRCH,
  fill,
  permitPirq,
  status,
  U32_SENTINEL,
  world,
} from "./support.js";

describe("EVTCHNOP_alloc_unbound", () => {
  it("alloc_unbound: -ESRCH when dom does not exist", () => {
    const { dom0 } = world();
    expect(allocUnbound(dom0, 0, 77)).toEqual([-ESRCH, U32_SENTINEL]);
  });

  it("alloc_unbound: -ESRCH wins over -EPERM for an unprivileged caller naming an unknown domain", () => {
    const {
      domUs: [u],
    } = world({});
    expect(allocUnbound(u!, 0, 77)[0]).toBe(-ESRCH);
  });

  it("alloc_unbound: -ENOSPC when dom has no free port", () => {
    const {
      domUs: [u],
    } = world({ maxEvtchnPort: 2 });
    expect(fill(u!)).toEqual({ ports: [1, 2], rc: -ENOSPC });
  });

  it("alloc_unbound: -ENOSPC (allocation) wins over -EPERM (XSM) when an unprivileged caller names a full domain", () => {
    const {
      domUs: [a, full],
    } = world({}, { maxEvtchnPort: 1 });
    expect(allocUnbound(full!, 0)[0]).toBe(0);
    expect(allocUnbound(a!, a!.domid, full!.domid)[0]).toBe(-ENOSPC);
  });

  it("alloc_unbound: -EINVAL (dying, from allocation) wins over -EPERM (XSM)", () => {
    const {
      hv,
      dom0,
      domUs: [a, victim],
    } = world({}, {});
    const seen: number[] = [];
    hv.trace.on("domain", (e) => {
      if (e.what !== "dying" || e.domid !== victim!.domid) return;
      seen.push(allocUnbound(a!, a!.domid, victim!.domid)[0]); // unprivileged
      seen.push(allocUnbound(dom0, 0, victim!.domid)[0]); // privileged
    });
    hv.destroyDomain(victim!.domid);
    expect(seen).toEqual([-EINVAL, -EINVAL]);
  });

  it("alloc_unbound: -EPERM when an unprivileged caller names another domain, and nothing is allocated there", () => {
    const {
      domUs: [a, b],
    } = world({}, {});
    expect(allocUnbound(a!, a!.domid, b!.domid)).toEqual([-EPERM, U32_SENTINEL]);
    expect(status(b!, 1).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(allocUnbound(b!, 0)).toEqual([0, 1]);
  });

  it("alloc_unbound: a device-model domain may allocate in its target (XSM TARGET)", () => {
    const {
      hv,
      domUs: [guest],
    } = world({});
    const dm = hv.guest(hv.createDomain({ target: guest!.domid }).domid);
    const [rc, port] = allocUnbound(dm, dm.domid, guest!.domid);
    expect([rc, port]).toEqual([0, 1]);
    expect(status(guest!, 1).s.u?.unbound?.dom).toBe(dm.domid);
  });

  it("alloc_unbound: dom0 may allocate in any domain, and remote_dom DOMID_SELF means the caller", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    expect(allocUnbound(dom0, DOMID_SELF, u!.domid)).toEqual([0, 1]);
    const { rc, s } = status(u!, 1);
    expect(rc).toBe(0);
    expect(s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_unbound);
    expect(s.u?.unbound?.dom).toBe(0);
  });

  it("alloc_unbound: remote_dom is not checked for existence", () => {
    const {
      domUs: [u],
    } = world({});
    expect(allocUnbound(u!, 4321)).toEqual([0, 1]);
    expect(status(u!, 1).s.u?.unbound?.dom).toBe(4321);
  });
});

describe("EVTCHNOP_bind_interdomain", () => {
  it("bind_interdomain: -ESRCH when remote_dom does not exist", () => {
    const {
      domUs: [u],
    } = world({});
    expect(bindInterdomain(u!, 99, 1)).toEqual([-ESRCH, U32_SENTINEL]);
  });

  it("bind_interdomain: -ESRCH (lookup) wins over -ENOSPC (local allocation)", () => {
    const {
      domUs: [u],
    } = world({ maxEvtchnPort: 1 });
    fill(u!);
    expect(bindInterdomain(u!, 99, 1)[0]).toBe(-ESRCH);
  });

  it("bind_interdomain: -ENOSPC (local allocation) wins over -EINVAL (remote port)", () => {
    const {
      dom0,
      domUs: [u],
    } = world({ maxEvtchnPort: 1 });
    fill(u!);
    expect(bindInterdomain(u!, dom0.domid, 4000)[0]).toBe(-ENOSPC);
  });

  it("bind_interdomain: -EINVAL when remote_port lies beyond the remote domain's buckets", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    expect(bindInterdomain(u!, dom0.domid, 64)[0]).toBe(-EINVAL);
    expect(bindInterdomain(u!, dom0.domid, 0xffffffff)[0]).toBe(-EINVAL);
  });

  it("bind_interdomain: -EINVAL when the remote port is FREE, RESERVED (port 0) or not UNBOUND", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    expect(bindInterdomain(u!, 0, 5)[0]).toBe(-EINVAL);
    expect(bindInterdomain(u!, 0, 0)[0]).toBe(-EINVAL);
    const [, ipi] = bindIpi(dom0, 0);
    expect(bindInterdomain(u!, 0, ipi)[0]).toBe(-EINVAL);
    const [, virq] = bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0);
    expect(bindInterdomain(u!, 0, virq)[0]).toBe(-EINVAL);
  });

  it("bind_interdomain: -EINVAL when the remote UNBOUND port accepts another domain", () => {
    const {
      dom0,
      domUs: [a, b],
    } = world({}, {});
    const [, p] = allocUnbound(dom0, a!.domid);
    expect(bindInterdomain(b!, 0, p)[0]).toBe(-EINVAL);
    expect(bindInterdomain(a!, 0, p)[0]).toBe(0);
  });

  it("bind_interdomain: -EINVAL when the remote port is already INTERDOMAIN", () => {
    const {
      dom0,
      domUs: [a],
    } = world({});
    const [, p] = allocUnbound(dom0, a!.domid);
    expect(bindInterdomain(a!, 0, p)).toEqual([0, 1]);
    expect(bindInterdomain(a!, 0, p)).toEqual([-EINVAL, U32_SENTINEL]);
  });

  it("bind_interdomain: a failed bind consumes no local port", () => {
    const {
      domUs: [a],
    } = world({});
    expect(bindInterdomain(a!, 0, 3)[0]).toBe(-EINVAL);
    expect(allocUnbound(a!, 0)).toEqual([0, 1]);
  });

  it("bind_interdomain: both ends become INTERDOMAIN pointing at each other", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    allocUnbound(dom0, 77); // port 1 taken, so the ends get different numbers
    const [, p0] = allocUnbound(dom0, u!.domid);
    const [rc, pu] = bindInterdomain(u!, 0, p0);
    expect([rc, p0, pu]).toEqual([0, 2, 1]);
    expect(status(dom0, p0).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_interdomain,
      vcpu: 0,
      u: { interdomain: { dom: u!.domid, port: pu } },
    });
    expect(status(u!, pu).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_interdomain,
      vcpu: 0,
      u: { interdomain: { dom: 0, port: p0 } },
    });
  });

  it("bind_interdomain: DOMID_SELF binds a loopback channel", () => {
    const {
      domUs: [u],
    } = world({});
    const [, p] = allocUnbound(u!, DOMID_SELF);
    const [rc, q] = bindInterdomain(u!, DOMID_SELF, p);
    expect([rc, q]).toEqual([0, 2]);
    expect(status(u!, p).s.u?.interdomain).toEqual({ dom: u!.domid, port: q });
    expect(status(u!, q).s.u?.interdomain).toEqual({ dom: u!.domid, port: p });
  });
});

describe("EVTCHNOP_bind_virq", () => {
  it("bind_virq: -EINVAL when virq >= NR_VIRQS", () => {
    const { dom0 } = world();
    expect(bindVirq(dom0, NR_VIRQS, 0)).toEqual([-EINVAL, U32_SENTINEL]);
    expect(bindVirq(dom0, 0xffffffff, 0)[0]).toBe(-EINVAL);
  });

  it("bind_virq: -EINVAL for an out-of-range virq wins over a bad vCPU", () => {
    const { dom0 } = world();
    expect(bindVirq(dom0, NR_VIRQS, 9)[0]).toBe(-EINVAL);
  });

  it("bind_virq: -EINVAL when a global VIRQ is bound on vcpu != 0", () => {
    const { dom0 } = world();
    expect(bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 1)[0]).toBe(-EINVAL);
    expect(bindVirq(dom0, VIRQ.VIRQ_ARCH_0, 1)[0]).toBe(-EINVAL); // x86: all ARCH VIRQs are global
    expect(bindVirq(dom0, 5, 1)[0]).toBe(-EINVAL); // the unused number 5 counts as global
  });

  it("bind_virq: -EINVAL (global on vcpu != 0) wins over -ENOENT (no such vCPU)", () => {
    const { dom0 } = world();
    expect(bindVirq(dom0, VIRQ.VIRQ_CONSOLE, 31)[0]).toBe(-EINVAL);
  });

  it("bind_virq: -ENOENT when the vCPU does not exist", () => {
    const { dom0 } = world();
    expect(bindVirq(dom0, VIRQ.VIRQ_TIMER, 2)[0]).toBe(-ENOENT);
    expect(bindVirq(dom0, VIRQ.VIRQ_XENPMU, 0xffffffff)[0]).toBe(-ENOENT);
  });

  it("bind_virq: -EEXIST when the VIRQ is already bound on that vCPU", () => {
    const { dom0 } = world();
    expect(bindVirq(dom0, VIRQ.VIRQ_TIMER, 1)).toEqual([0, 1]);
    expect(bindVirq(dom0, VIRQ.VIRQ_TIMER, 1)).toEqual([-EEXIST, U32_SENTINEL]);
    expect(bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0)).toEqual([0, 2]);
    expect(bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0)[0]).toBe(-EEXIST);
  });

  it("bind_virq: -EEXIST wins over -ENOSPC", () => {
    const {
      domUs: [u],
    } = world({ maxEvtchnPort: 1 });
    expect(bindVirq(u!, VIRQ.VIRQ_DEBUG, 0)).toEqual([0, 1]);
    expect(bindVirq(u!, VIRQ.VIRQ_DEBUG, 0)[0]).toBe(-EEXIST);
    expect(bindVirq(u!, VIRQ.VIRQ_TIMER, 0)[0]).toBe(-ENOSPC);
  });

  it("bind_virq: a global VIRQ still bound on vCPU 0 after bind_vcpu moved it gives -EEXIST", () => {
    const { dom0 } = world();
    const [, p] = bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0);
    expect(bindVcpu(dom0, p, 1)).toBe(0);
    expect(bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0)[0]).toBe(-EEXIST);
    expect(close(dom0, p)).toBe(0);
    expect(bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0)).toEqual([0, p]);
  });

  it("bind_virq: the port is VIRQ with notify vCPU = vcpu", () => {
    const { dom0 } = world();
    const [, p] = bindVirq(dom0, VIRQ.VIRQ_TIMER, 1);
    expect(status(dom0, p).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_virq,
      vcpu: 1,
      u: { virq: VIRQ.VIRQ_TIMER },
    });
  });
});

describe("EVTCHNOP_bind_ipi", () => {
  it("bind_ipi: -ENOENT when the vCPU does not exist", () => {
    const { dom0 } = world();
    expect(bindIpi(dom0, 2)).toEqual([-ENOENT, U32_SENTINEL]);
    expect(bindIpi(dom0, 0xffffffff)[0]).toBe(-ENOENT);
  });

  it("bind_ipi: -ENOENT wins over -ENOSPC", () => {
    const {
      domUs: [u],
    } = world({ maxEvtchnPort: 1 });
    fill(u!);
    expect(bindIpi(u!, 1)[0]).toBe(-ENOENT);
    expect(bindIpi(u!, 0)[0]).toBe(-ENOSPC);
  });

  it("bind_ipi: the port is IPI notifying the requested vCPU", () => {
    const { dom0 } = world();
    const [rc, p] = bindIpi(dom0, 1);
    expect(rc).toBe(0);
    expect(status(dom0, p).s).toMatchObject({ status: EVTCHNSTAT.EVTCHNSTAT_ipi, vcpu: 1 });
  });
});

describe("EVTCHNOP_bind_pirq", () => {
  it("bind_pirq: -EINVAL when pirq >= nr_pirqs", () => {
    const {
      dom0,
      domUs: [u],
    } = world({ nrPirqs: 8 });
    expect(bindPirq(dom0, 280)).toEqual([-EINVAL, U32_SENTINEL]);
    expect(bindPirq(dom0, 0xffffffff)[0]).toBe(-EINVAL);
    expect(bindPirq(u!, 8)[0]).toBe(-EINVAL);
  });

  it("bind_pirq: -EINVAL (range) wins over -EPERM (no access)", () => {
    const {
      domUs: [u],
    } = world({});
    expect(bindPirq(u!, 56)[0]).toBe(-EINVAL);
    expect(bindPirq(u!, 55)[0]).toBe(-EPERM);
  });

  it("bind_pirq: -EPERM when the domain has no access to the PIRQ", () => {
    const {
      hv,
      domUs: [u],
    } = world({});
    expect(bindPirq(u!, 10)).toEqual([-EPERM, U32_SENTINEL]);
    permitPirq(hv, u!.domid, 10);
    expect(bindPirq(u!, 10)).toEqual([0, 1]);
    expect(bindPirq(u!, 11)[0]).toBe(-EPERM);
  });

  it("bind_pirq: -EEXIST when the PIRQ is already bound in this domain", () => {
    const { dom0 } = world();
    expect(bindPirq(dom0, 9)).toEqual([0, 1]);
    expect(bindPirq(dom0, 9, BIND_PIRQ__WILL_SHARE)[0]).toBe(-EEXIST);
  });

  it("bind_pirq: -EEXIST wins over -ENOSPC", () => {
    const {
      hv,
      domUs: [u],
    } = world({ maxEvtchnPort: 1 });
    permitPirq(hv, u!.domid, 4);
    permitPirq(hv, u!.domid, 5);
    expect(bindPirq(u!, 4)).toEqual([0, 1]);
    expect(bindPirq(u!, 4)[0]).toBe(-EEXIST);
    expect(bindPirq(u!, 5)[0]).toBe(-ENOSPC);
  });

  it("bind_pirq: -EBUSY from pirq_guest_bind when the line is not shareable, and no port is consumed", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    permitPirq(hv, u!.domid, 7);
    expect(bindPirq(dom0, 7)[0]).toBe(0); // without WILL_SHARE
    expect(bindPirq(u!, 7, BIND_PIRQ__WILL_SHARE)).toEqual([-EBUSY, U32_SENTINEL]);
    expect(allocUnbound(u!, 0)).toEqual([0, 1]);
  });

  it("bind_pirq: -EBUSY when a sharer does not ask for BIND_PIRQ__WILL_SHARE", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    permitPirq(hv, u!.domid, 7);
    expect(bindPirq(dom0, 7, BIND_PIRQ__WILL_SHARE)[0]).toBe(0);
    expect(bindPirq(u!, 7)[0]).toBe(-EBUSY);
    expect(bindPirq(u!, 7, BIND_PIRQ__WILL_SHARE)[0]).toBe(0);
  });

  it("bind_pirq: the port is PIRQ notifying vCPU 0", () => {
    const { dom0 } = world();
    const [, p] = bindPirq(dom0, 12);
    expect(status(dom0, p).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_pirq,
      vcpu: 0,
      u: { pirq: 12 },
    });
  });
});
