// Who gets an event and when (`event_channel.c`, `event_2l.c`; VIRQs of `xen.h`): interdomain,
// loopback and IPI sends, notify vCPUs, VIRQs raised by Xen, PIRQs from the interrupt controller,
// and teardown.
import { describe, expect, it } from "vitest";
import {
  BIND_PIRQ__WILL_SHARE,
  DOMID_SELF,
  EVTCHNSTAT,
  SCHEDOP,
  SHUTDOWN,
  VCPUOP,
  VIRQ,
} from "@pvkit/hypervisor-sim/abi";
import {
  EBUSY,
  EINVAL,
  ESRCH,
  ackVcpu,
  allocUnbound,
  bindInterdomain,
  bindIpi,
  bindPirq,
  bindVcpu,
  bindVirq,
  clearPendingBit,
  close,
  connect,
  pending,
  pendingPorts,
  permitPirq,
  sel,
  send,
  shinfo,
  status,
  upcallPending,
  world,
} from "./support.js";

describe("interdomain, loopback and IPI sends", () => {
  it("sets the new local port pending at once on bind_interdomain", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    const shu = shinfo(u!);
    const sh0 = shinfo(dom0);
    const [p0, pu] = connect(dom0, u!);
    expect(pendingPorts(shu)).toEqual([pu]);
    expect([sel(shu, 0, 0), upcallPending(shu, 0)]).toEqual([true, true]);
    expect(pending(sh0, p0)).toBe(false);
  });

  it("raises the remote port, on the receiver's notify vCPU, for an interdomain send", () => {
    const {
      dom0,
      domUs: [u],
    } = world({ vcpus: 2 });
    const shu = shinfo(u!);
    const [p0, pu] = connect(dom0, u!);
    clearPendingBit(shu, pu);
    ackVcpu(shu, 0);
    expect(bindVcpu(dom0, p0, 1)).toBe(0); // the sender's own notify vCPU does not matter
    expect(bindVcpu(u!, pu, 1)).toBe(0);
    expect(send(dom0, p0)).toBe(0);
    expect([pending(shu, pu), sel(shu, 1, 0), upcallPending(shu, 1)]).toEqual([true, true, true]);
    expect(upcallPending(shu, 0)).toBe(false);
  });

  it("keeps the notify vCPU chosen while UNBOUND when the peer binds", () => {
    const {
      dom0,
      domUs: [u],
    } = world({ vcpus: 2 });
    const shu = shinfo(u!);
    const [, pu] = allocUnbound(u!, 0);
    expect(bindVcpu(u!, pu, 1)).toBe(0);
    const [, p0] = bindInterdomain(dom0, u!.domid, pu);
    expect(status(u!, pu).s.vcpu).toBe(1);
    send(dom0, p0);
    expect([pending(shu, pu), upcallPending(shu, 1), upcallPending(shu, 0)]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it("leaves the peer UNBOUND accepting the closer when one end closes, and lets the closer re-bind it", () => {
    const {
      dom0,
      domUs: [u, other],
    } = world({}, {});
    const sh0 = shinfo(dom0);
    const [p0, pu] = connect(dom0, u!);
    expect(close(u!, pu)).toBe(0);
    expect(status(dom0, p0).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_unbound,
      u: { unbound: { dom: u!.domid } },
    });
    expect(send(dom0, p0)).toBe(0);
    expect(pendingPorts(sh0)).toEqual([]);
    expect(bindInterdomain(other!, 0, p0)[0]).toBe(-EINVAL);
    const [rc, again] = bindInterdomain(u!, 0, p0);
    expect([rc, again]).toEqual([0, pu]);
    expect(status(dom0, p0).s.u?.interdomain).toEqual({ dom: u!.domid, port: pu });
  });

  it("clears the closed end's pending bit but not the surviving peer's", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    const sh0 = shinfo(dom0);
    const shu = shinfo(u!);
    const [p0, pu] = connect(dom0, u!);
    send(u!, pu);
    expect(pending(sh0, p0)).toBe(true);
    expect(close(u!, pu)).toBe(0);
    expect(pending(shu, pu)).toBe(false);
    expect(pending(sh0, p0)).toBe(true);
  });

  it("raises each end of a loopback channel from the other", () => {
    const {
      domUs: [u],
    } = world({});
    const sh = shinfo(u!);
    const [, p] = allocUnbound(u!, DOMID_SELF);
    const [, q] = bindInterdomain(u!, DOMID_SELF, p);
    expect(pendingPorts(sh)).toEqual([q]);
    clearPendingBit(sh, q);
    expect(send(u!, q)).toBe(0);
    expect(pendingPorts(sh)).toEqual([p]);
    expect(send(u!, p)).toBe(0);
    expect(pendingPorts(sh)).toEqual([p, q]);
    expect(close(u!, p)).toBe(0);
    expect(status(u!, q).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_unbound,
      u: { unbound: { dom: u!.domid } },
    });
  });

  it("raises an IPI on the vCPU it was bound to, whichever vCPU sends it", () => {
    const { dom0 } = world();
    const sh = shinfo(dom0);
    const [, p] = bindIpi(dom0, 1);
    expect(send(dom0, p, 0)).toBe(0);
    expect([pending(sh, p), upcallPending(sh, 1), upcallPending(sh, 0)]).toEqual([
      true,
      true,
      false,
    ]);
  });
});

describe("VIRQs", () => {
  it("binds a per-vCPU VIRQ once on each vCPU, and each fires on its own vCPU", () => {
    const { hv, dom0 } = world();
    const sh = shinfo(dom0);
    const [, d0] = bindVirq(dom0, VIRQ.VIRQ_DEBUG, 0);
    const [, d1] = bindVirq(dom0, VIRQ.VIRQ_DEBUG, 1);
    expect(d0).not.toBe(d1);
    hv.sendDebugVirq(0, 1);
    expect(pendingPorts(sh)).toEqual([d1]);
    expect([upcallPending(sh, 1), upcallPending(sh, 0)]).toEqual([true, false]);
    hv.sendDebugVirq(0, 0);
    expect(pendingPorts(sh)).toEqual([d0, d1]);
  });

  it("drops VIRQ_DEBUG for a vCPU that has not bound it", () => {
    const { hv, dom0 } = world();
    const sh = shinfo(dom0);
    bindVirq(dom0, VIRQ.VIRQ_DEBUG, 0);
    hv.sendDebugVirq(0, 1);
    expect(pendingPorts(sh)).toEqual([]);
  });

  it("raises VIRQ_DOM_EXC in dom0 when a domain is destroyed", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const sh = shinfo(dom0);
    const [, p] = bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0);
    hv.destroyDomain(u!.domid);
    expect(pendingPorts(sh)).toEqual([p]);
  });

  it("raises VIRQ_DOM_EXC in dom0 when a domain shuts itself down", async () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const sh = shinfo(dom0);
    const [, p] = bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0);
    expect(
      await u!.hypercall.sched_op(SCHEDOP.SCHEDOP_shutdown, { reason: SHUTDOWN.SHUTDOWN_poweroff }),
    ).toBe(0);
    hv.runUntilIdle();
    expect(pendingPorts(sh)).toEqual([p]);
  });

  it("raises a global VIRQ on the vCPU bind_vcpu moved it to", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const sh = shinfo(dom0);
    const [, p] = bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0);
    expect(bindVcpu(dom0, p, 1)).toBe(0);
    hv.destroyDomain(u!.domid);
    expect([pending(sh, p), sel(sh, 1, 0), upcallPending(sh, 1), upcallPending(sh, 0)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it("raises VIRQ_TIMER on the vCPU whose singleshot timer expires, not before", () => {
    const { hv, dom0 } = world();
    const sh = shinfo(dom0);
    const [, t1] = bindVirq(dom0, VIRQ.VIRQ_TIMER, 1);
    const [, t0] = bindVirq(dom0, VIRQ.VIRQ_TIMER, 0);
    expect(
      dom0.vcpu(1).vcpu_op(VCPUOP.VCPUOP_set_singleshot_timer, 1, {
        timeout_abs_ns: hv.now + 1_000_000,
        flags: 0,
      }),
    ).toBe(0);
    hv.advance(999_999);
    expect(pendingPorts(sh)).toEqual([]);
    hv.advance(1);
    expect(pendingPorts(sh)).toEqual([t1]);
    expect(upcallPending(sh, 1)).toBe(true);
    expect(dom0.vcpu(0).set_timer_op(hv.now + 500)).toBe(0);
    hv.advance(500);
    expect(pendingPorts(sh)).toEqual([t1, t0].sort((a, b) => a - b));
  });

  it("does not raise a closed VIRQ port", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const sh = shinfo(dom0);
    const [, p] = bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0);
    close(dom0, p);
    hv.destroyDomain(u!.domid);
    expect(pendingPorts(sh)).toEqual([]);
  });
});

describe("PIRQs", () => {
  it("raises the bound port when the interrupt controller asserts the line", () => {
    const { hv, dom0 } = world();
    const sh = shinfo(dom0);
    const [, p] = bindPirq(dom0, 9);
    expect(hv.irq.raise(9)).toBe(1);
    expect(pendingPorts(sh)).toEqual([p]);
    expect(hv.irq.raise(10)).toBe(0);
  });

  it("delivers a shared line to every domain that bound it with BIND_PIRQ__WILL_SHARE", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const sh0 = shinfo(dom0);
    const shu = shinfo(u!);
    permitPirq(hv, u!.domid, 11);
    allocUnbound(u!, 0); // so the two ports differ
    const [, p0] = bindPirq(dom0, 11, BIND_PIRQ__WILL_SHARE);
    const [, pu] = bindPirq(u!, 11, BIND_PIRQ__WILL_SHARE);
    expect(hv.irq.raise(11)).toBe(2);
    expect(pendingPorts(sh0)).toEqual([p0]);
    expect(pendingPorts(shu)).toEqual([pu]);
    close(dom0, p0);
    clearPendingBit(shu, pu);
    expect(hv.irq.raise(11)).toBe(1);
    expect(pendingPorts(shu)).toEqual([pu]);
    expect(pendingPorts(sh0)).toEqual([]);
  });

  it("raises a PIRQ on the vCPU bind_vcpu moved it to", () => {
    const { hv, dom0 } = world();
    const sh = shinfo(dom0);
    const [, p] = bindPirq(dom0, 5);
    bindVcpu(dom0, p, 1);
    hv.irq.raise(5);
    expect([pending(sh, p), upcallPending(sh, 1), upcallPending(sh, 0)]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it("refuses a 33rd sharer of one line with -EBUSY (irq-max-guests = 32)", () => {
    const { hv, dom0 } = world();
    expect(bindPirq(dom0, 14, BIND_PIRQ__WILL_SHARE)[0]).toBe(0);
    const results: number[] = [];
    for (let i = 0; i < 32; i++) {
      const g = hv.guest(hv.createDomain({}).domid);
      permitPirq(hv, g.domid, 14);
      results.push(bindPirq(g, 14, BIND_PIRQ__WILL_SHARE)[0]);
    }
    expect(results.slice(0, 31).every((rc) => rc === 0)).toBe(true);
    expect(results[31]).toBe(-EBUSY);
    expect(hv.irq.raise(14)).toBe(32);
  });

  it("lets another domain bind a line exclusively once its last binder closed", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    permitPirq(hv, u!.domid, 6);
    const [, p0] = bindPirq(dom0, 6, BIND_PIRQ__WILL_SHARE);
    expect(close(dom0, p0)).toBe(0);
    expect(bindPirq(u!, 6)[0]).toBe(0);
    expect(bindPirq(dom0, 6, BIND_PIRQ__WILL_SHARE)[0]).toBe(-EBUSY);
  });
});

describe("domain destruction", () => {
  it("closes every port of the destroyed domain and leaves its peers UNBOUND accepting its old domid", () => {
    const {
      hv,
      dom0,
      domUs: [u, w],
    } = world({ vcpus: 2 }, {});
    const [p0] = connect(dom0, u!);
    const [pw] = connect(w!, u!);
    bindIpi(u!, 1);
    const old = u!.domid;
    hv.destroyDomain(old);
    expect(status(dom0, p0).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_unbound,
      u: { unbound: { dom: old } },
    });
    expect(status(w!, pw).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_unbound,
      u: { unbound: { dom: old } },
    });
    expect(send(dom0, p0)).toBe(0);
    expect(bindInterdomain(dom0, old, 1)[0]).toBe(-ESRCH);
  });

  it("unbinds the destroyed domain's PIRQs from shared lines", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    permitPirq(hv, u!.domid, 13);
    bindPirq(dom0, 13, BIND_PIRQ__WILL_SHARE);
    bindPirq(u!, 13, BIND_PIRQ__WILL_SHARE);
    hv.destroyDomain(u!.domid);
    expect(hv.irq.raise(13)).toBe(1);
  });
});
