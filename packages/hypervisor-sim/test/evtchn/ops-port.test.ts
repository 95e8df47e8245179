// Preconditions of the EVTCHNOPs that act on an existing port, in Xen 4.17's check order
// (`event_channel.c`): close, send, status, bind_vcpu, unmask, set_priority.
import { describe, expect, it } from "vitest";
import type { Hypervisor } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, EVTCHNOP, EVTCHNSTAT, VIRQ } from "@pvkit/hypervisor-sim/abi";
import {
  EACCES,
  EINVAL,
  ENOENT,
  ENOSYS,
  EPERM,
  ESRCH,
  allocUnbound,
  bindInterdomain,
  bindIpi,
  bindPirq,
  bindVcpu,
  bindVirq,
  close,
  connect,
  masked,
  pendingPorts,
  send,
  setMask,
  shinfo,
  status,
  U32_SENTINEL,
  unmask,
  world,
} from "./support.js";
import { internal } from "../internals.js";

/** A Xen-owned UNBOUND port in `domid` accepting `remote` (as an ioreq server makes). */
function xenPort(hv: Hypervisor, domid: number, remote: number, calls: number[] = []): number {
  const d = hv.domainById(domid)!;
  const port = internal(d).evtchn.allocXenConsumer(d.isDying, 0, remote, (p) => calls.push(p));
  if (port < 0) throw new Error(`allocXenConsumer = ${port}`);
  return port;
}

describe("EVTCHNOP_close", () => {
  it("close: -EINVAL when the port lies beyond the allocated buckets", () => {
    const { dom0 } = world();
    expect(close(dom0, 64)).toBe(-EINVAL);
    expect(close(dom0, 0xffffffff)).toBe(-EINVAL);
  });

  it("close: -EINVAL for RESERVED port 0 and for a FREE port", () => {
    const { dom0 } = world();
    expect(close(dom0, 0)).toBe(-EINVAL);
    expect(close(dom0, 63)).toBe(-EINVAL);
  });

  it("close: -EINVAL when the port was already closed", () => {
    const { dom0 } = world();
    const [, p] = bindIpi(dom0, 0);
    expect(close(dom0, p)).toBe(0);
    expect(close(dom0, p)).toBe(-EINVAL);
  });

  it("close: -EINVAL for a Xen-consumer port", () => {
    const { hv, dom0 } = world();
    const p = xenPort(hv, 0, 0);
    expect(close(dom0, p)).toBe(-EINVAL);
    expect(status(dom0, p).rc).toBe(-EACCES); // still there
  });

  it("close: frees UNBOUND, IPI, VIRQ and PIRQ ports; a VIRQ or PIRQ can be bound again", () => {
    const { dom0 } = world();
    const [, u] = allocUnbound(dom0, 0);
    const [, i] = bindIpi(dom0, 1);
    const [, v] = bindVirq(dom0, VIRQ.VIRQ_TIMER, 1);
    const [, q] = bindPirq(dom0, 3);
    for (const p of [u, i, v, q]) expect(close(dom0, p)).toBe(0);
    for (const p of [u, i, v, q])
      expect(status(dom0, p).s).toMatchObject({ status: EVTCHNSTAT.EVTCHNSTAT_closed, vcpu: 0 });
    expect(bindVirq(dom0, VIRQ.VIRQ_TIMER, 1)).toEqual([0, 1]);
    expect(bindPirq(dom0, 3)).toEqual([0, 2]);
  });
});

describe("EVTCHNOP_send", () => {
  it("send: -EINVAL when the port lies beyond the allocated buckets", () => {
    const { dom0 } = world();
    expect(send(dom0, 64)).toBe(-EINVAL);
  });

  it("send: -EINVAL on FREE, RESERVED, VIRQ and PIRQ ports", () => {
    const { dom0 } = world();
    const [, v] = bindVirq(dom0, VIRQ.VIRQ_DEBUG, 0);
    const [, q] = bindPirq(dom0, 2);
    for (const p of [0, 40, v, q]) expect(send(dom0, p)).toBe(-EINVAL);
  });

  it("send: -EINVAL on a Xen-consumer port", () => {
    const { hv, dom0 } = world();
    expect(send(dom0, xenPort(hv, 0, 0))).toBe(-EINVAL);
  });

  it("send: 0 on an UNBOUND port, and nothing is raised anywhere", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    const sh0 = shinfo(dom0);
    const shu = shinfo(u!);
    const [, p] = allocUnbound(dom0, u!.domid);
    expect(send(dom0, p)).toBe(0);
    expect(pendingPorts(sh0)).toEqual([]);
    expect(pendingPorts(shu)).toEqual([]);
  });

  it("send: an interdomain send to a Xen-consumer peer calls Xen's handler instead of raising", () => {
    const {
      hv,
      domUs: [u],
    } = world({});
    const calls: number[] = [];
    const xp = xenPort(hv, 0, u!.domid, calls);
    const [rc, up] = bindInterdomain(u!, 0, xp);
    expect(rc).toBe(0);
    expect(send(u!, up)).toBe(0);
    hv.runUntilIdle();
    expect(calls).toEqual([xp]);
    expect(pendingPorts(shinfo(hv.guest(0)))).toEqual([]);
  });
});

describe("EVTCHNOP_status", () => {
  it("status: -ESRCH when dom does not exist", () => {
    const { dom0 } = world();
    expect(status(dom0, 1, 99).rc).toBe(-ESRCH);
  });

  it("status: -EINVAL when the port lies beyond the allocated buckets", () => {
    const { dom0 } = world();
    const { rc, s } = status(dom0, 64);
    expect(rc).toBe(-EINVAL);
    expect([s.status, s.vcpu]).toEqual([U32_SENTINEL, U32_SENTINEL]);
  });

  it("status: -EACCES for a Xen-consumer port", () => {
    const { hv, dom0 } = world();
    expect(status(dom0, xenPort(hv, 0, 0)).rc).toBe(-EACCES);
  });

  it("status: -EPERM when an unprivileged caller queries another domain", () => {
    const {
      domUs: [a, b],
    } = world({}, {});
    expect(status(a!, 1, b!.domid).rc).toBe(-EPERM);
    expect(status(a!, 0, 0).rc).toBe(-EPERM);
  });

  it("status: -ESRCH, -EINVAL and -EACCES all win over -EPERM", () => {
    const {
      hv,
      domUs: [a, b],
    } = world({}, {});
    const xp = xenPort(hv, b!.domid, 0);
    expect(status(a!, 1, 99).rc).toBe(-ESRCH);
    expect(status(a!, 64, b!.domid).rc).toBe(-EINVAL);
    expect(status(a!, xp, b!.domid).rc).toBe(-EACCES);
  });

  it("status: reports closed for port 0 and FREE ports, and each bound state with its union", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    const [, ub] = allocUnbound(dom0, 42);
    const [p0, pu] = connect(dom0, u!);
    const [, q] = bindPirq(dom0, 17);
    const [, v] = bindVirq(dom0, VIRQ.VIRQ_TIMER, 1);
    const [, i] = bindIpi(dom0, 1);
    expect(status(dom0, 0).s).toMatchObject({ status: EVTCHNSTAT.EVTCHNSTAT_closed, vcpu: 0 });
    expect(status(dom0, 63).s).toMatchObject({ status: EVTCHNSTAT.EVTCHNSTAT_closed, vcpu: 0 });
    expect(status(dom0, ub).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_unbound,
      u: { unbound: { dom: 42 } },
    });
    expect(status(dom0, p0).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_interdomain,
      u: { interdomain: { dom: u!.domid, port: pu } },
    });
    expect(status(dom0, q).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_pirq,
      vcpu: 0,
      u: { pirq: 17 },
    });
    expect(status(dom0, v).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_virq,
      vcpu: 1,
      u: { virq: VIRQ.VIRQ_TIMER },
    });
    expect(status(dom0, i).s).toMatchObject({ status: EVTCHNSTAT.EVTCHNSTAT_ipi, vcpu: 1 });
  });

  it("status: dom0 and a device model may query other domains; DOMID_SELF names the caller", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const dm = hv.guest(hv.createDomain({ target: u!.domid }).domid);
    allocUnbound(u!, 0);
    expect(status(dom0, 1, u!.domid).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_unbound);
    expect(status(dm, 1, u!.domid).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_unbound);
    expect(status(u!, 1, DOMID_SELF).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_unbound);
    expect(status(u!, 1, u!.domid).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_unbound);
  });
});

describe("EVTCHNOP_bind_vcpu", () => {
  it("bind_vcpu: -ENOENT when the vCPU does not exist", () => {
    const { dom0 } = world();
    const [, p] = allocUnbound(dom0, 0);
    expect(bindVcpu(dom0, p, 2)).toBe(-ENOENT);
  });

  it("bind_vcpu: -ENOENT (vCPU) wins over -EINVAL (port)", () => {
    const { dom0 } = world();
    expect(bindVcpu(dom0, 5000, 7)).toBe(-ENOENT);
    expect(bindVcpu(dom0, 5000, 1)).toBe(-EINVAL);
  });

  it("bind_vcpu: -EINVAL for a Xen-consumer port", () => {
    const { hv, dom0 } = world();
    expect(bindVcpu(dom0, xenPort(hv, 0, 0), 1)).toBe(-EINVAL);
  });

  it("bind_vcpu: -EINVAL for a per-vCPU VIRQ, an IPI, a FREE port and RESERVED port 0", () => {
    const { dom0 } = world();
    const [, t] = bindVirq(dom0, VIRQ.VIRQ_TIMER, 0);
    const [, i] = bindIpi(dom0, 0);
    for (const p of [t, i, 30, 0]) expect(bindVcpu(dom0, p, 1)).toBe(-EINVAL);
    expect(status(dom0, t).s.vcpu).toBe(0);
    expect(status(dom0, i).s.vcpu).toBe(0);
  });

  it("bind_vcpu: moves UNBOUND, INTERDOMAIN, global VIRQ and PIRQ ports (and the IRQ affinity)", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const [, ub] = allocUnbound(dom0, 9);
    const [p0] = connect(dom0, u!);
    const [, g] = bindVirq(dom0, VIRQ.VIRQ_CON_RING, 0);
    const [, q] = bindPirq(dom0, 21);
    for (const p of [ub, p0, g, q]) {
      expect(bindVcpu(dom0, p, 1)).toBe(0);
      expect(status(dom0, p).s.vcpu).toBe(1);
    }
    expect(hv.irq.affinity(hv.domainById(0)!, 21)).toBe(1);
  });
});

describe("EVTCHNOP_unmask", () => {
  it("unmask: -EINVAL when the port lies beyond the allocated buckets", () => {
    const { dom0 } = world();
    expect(unmask(dom0, 64)).toBe(-EINVAL);
    expect(unmask(dom0, 4095)).toBe(-EINVAL);
  });

  it("unmask: 0 on a FREE port inside an allocated bucket, leaving its mask bit alone", () => {
    const { dom0 } = world();
    const sh = shinfo(dom0);
    setMask(sh, 40, true);
    setMask(sh, 0, true);
    expect(unmask(dom0, 40)).toBe(0);
    expect(unmask(dom0, 0)).toBe(0);
    expect(masked(sh, 40)).toBe(true);
    expect(masked(sh, 0)).toBe(true);
  });

  it("unmask: 0 on a Xen-consumer port, leaving its mask bit alone", () => {
    const { hv, dom0 } = world();
    const sh = shinfo(dom0);
    const p = xenPort(hv, 0, 0);
    setMask(sh, p, true);
    expect(unmask(dom0, p)).toBe(0);
    expect(masked(sh, p)).toBe(true);
  });

  it("unmask: clears the mask bit of a bound port", () => {
    const { dom0 } = world();
    const sh = shinfo(dom0);
    const [, p] = bindIpi(dom0, 0);
    setMask(sh, p, true);
    expect(unmask(dom0, p)).toBe(0);
    expect(masked(sh, p)).toBe(false);
  });
});

describe("EVTCHNOP_set_priority on the 2-level ABI", () => {
  const setPriority = (
    g: ReturnType<typeof world>["dom0"],
    port: number,
    priority: number,
  ): number => g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_set_priority, { port, priority });

  it("set_priority: -EINVAL when the port lies beyond the allocated buckets", () => {
    const { dom0 } = world();
    expect(setPriority(dom0, 64, 3)).toBe(-EINVAL);
  });

  it("set_priority: -ENOSYS on any valid port, before the usable and priority checks", () => {
    const { hv, dom0 } = world();
    const [, p] = bindIpi(dom0, 0);
    expect(setPriority(dom0, p, 3)).toBe(-ENOSYS);
    expect(setPriority(dom0, p, 99)).toBe(-ENOSYS);
    expect(setPriority(dom0, 50, 3)).toBe(-ENOSYS); // FREE: would be -EACCES under FIFO
    expect(setPriority(dom0, xenPort(hv, 0, 0), 3)).toBe(-ENOSYS);
  });
});
