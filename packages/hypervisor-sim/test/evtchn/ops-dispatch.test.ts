// do_event_channel_op's own rules (unknown command, copy faults, the compat hypercall 16) and
// EVTCHNOP_reset / reset_cont (`event_channel.h`; `event_channel.c`: `evtchn_reset`, XSA-343/344).
import { describe, expect, it } from "vitest";
import { ECS } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  EVTCHNOP,
  EVTCHNSTAT,
  type evtchn_alloc_unbound,
  VIRQ,
} from "@pvkit/hypervisor-sim/abi";
import {
  EBUSY,
  EFAULT,
  EINVAL,
  ENOSYS,
  EOPNOTSUPP,
  EPERM,
  ESRCH,
  allocUnbound,
  bindInterdomain,
  bindIpi,
  bindPirq,
  bindVirq,
  connect,
  pendingPorts,
  reset,
  resetCont,
  send,
  shinfo,
  status,
  world,
} from "./support.js";
import { internal } from "../internals.js";

describe("event_channel_op (hypercall 32)", () => {
  it("event_channel_op: -ENOSYS for an unknown command", () => {
    const { dom0 } = world();
    for (const cmd of [15, 16, 99, 0x7fffffff])
      expect(dom0.hypercall.event_channel_op(cmd, { port: 1 })).toBe(-ENOSYS);
  });

  it("event_channel_op: -EFAULT when a known command's argument cannot be read", () => {
    const { dom0 } = world();
    expect(dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, null as never)).toBe(-EFAULT);
    expect(
      dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, undefined as never),
    ).toBe(-EFAULT);
  });

  it("expand_array: -EOPNOTSUPP while the domain uses the 2-level ABI", () => {
    const { dom0 } = world();
    expect(dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_expand_array, { array_gfn: 5 })).toBe(
      -EOPNOTSUPP,
    );
  });
});

describe("event_channel_op_compat (hypercall 16)", () => {
  it("compat: runs commands 0-9 on the embedded union and writes OUT fields back into it", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    const au: evtchn_alloc_unbound = { dom: DOMID_SELF, remote_dom: u!.domid };
    expect(
      dom0.hypercall.event_channel_op_compat({ cmd: EVTCHNOP.EVTCHNOP_alloc_unbound, u: au }),
    ).toBe(0);
    expect(au.port).toBe(1);
    const bi = { remote_dom: 0, remote_port: 1, local_port: 0 };
    expect(
      u!.hypercall.event_channel_op_compat({ cmd: EVTCHNOP.EVTCHNOP_bind_interdomain, u: bi }),
    ).toBe(0);
    expect(bi.local_port).toBe(1);
    const st = { dom: DOMID_SELF, port: 1 } as { dom: number; port: number; status?: number };
    expect(dom0.hypercall.event_channel_op_compat({ cmd: EVTCHNOP.EVTCHNOP_status, u: st })).toBe(
      0,
    );
    expect(st.status).toBe(EVTCHNSTAT.EVTCHNSTAT_interdomain);
    expect(
      u!.hypercall.event_channel_op_compat({ cmd: EVTCHNOP.EVTCHNOP_send, u: { port: 1 } }),
    ).toBe(0);
    expect(pendingPorts(shinfo(dom0))).toEqual([1]);
  });

  it("compat: keeps each command's own errno", () => {
    const { dom0 } = world();
    expect(
      dom0.hypercall.event_channel_op_compat({ cmd: EVTCHNOP.EVTCHNOP_close, u: { port: 0 } }),
    ).toBe(-EINVAL);
    expect(
      dom0.hypercall.event_channel_op_compat({
        cmd: EVTCHNOP.EVTCHNOP_bind_virq,
        u: { virq: VIRQ.VIRQ_DOM_EXC, vcpu: 1 },
      }),
    ).toBe(-EINVAL);
  });

  it("compat: -ENOSYS for reset, init_control, expand_array, set_priority, reset_cont and unknown commands", () => {
    const { dom0 } = world();
    for (const cmd of [10, 11, 12, 13, 14, 15, 200]) {
      expect(dom0.hypercall.event_channel_op_compat({ cmd, u: { dom: DOMID_SELF } as never })).toBe(
        -ENOSYS,
      );
    }
    // The reset was really not run: the port survives.
    const [, p] = bindIpi(dom0, 0);
    expect(
      dom0.hypercall.event_channel_op_compat({
        cmd: EVTCHNOP.EVTCHNOP_reset,
        u: { dom: DOMID_SELF } as never,
      }),
    ).toBe(-ENOSYS);
    expect(status(dom0, p).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_ipi);
  });

  it("compat: -EFAULT when the evtchn_op itself cannot be read", () => {
    const { dom0 } = world();
    expect(dom0.hypercall.event_channel_op_compat(null as never)).toBe(-EFAULT);
  });
});

describe("EVTCHNOP_reset and EVTCHNOP_reset_cont", () => {
  it("reset: -ESRCH when dom does not exist", () => {
    const { dom0 } = world();
    expect(reset(dom0, 55)).toBe(-ESRCH);
  });

  it("reset: -EPERM when an unprivileged caller names another domain", () => {
    const {
      hv,
      domUs: [a, b],
    } = world({}, {});
    hv.pauseDomain(b!.domid);
    allocUnbound(b!, 0);
    expect(reset(a!, b!.domid)).toBe(-EPERM);
    expect(status(b!, 1).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_unbound);
  });

  it("reset: -ESRCH wins over -EPERM", () => {
    const {
      domUs: [a],
    } = world({});
    expect(reset(a!, 55)).toBe(-ESRCH);
  });

  it("reset: -EINVAL when the target is another domain the toolstack has not paused", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    allocUnbound(u!, 0);
    expect(reset(dom0, u!.domid)).toBe(-EINVAL);
    expect(status(u!, 1).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_unbound);
  });

  it("reset: -EPERM (XSM) wins over -EINVAL (not paused)", () => {
    const {
      domUs: [a, b],
    } = world({}, {});
    expect(reset(a!, b!.domid)).toBe(-EPERM);
  });

  it("reset_cont: -EBUSY when no reset is in progress", () => {
    const { dom0 } = world();
    const [, p] = bindIpi(dom0, 0);
    expect(resetCont(dom0, DOMID_SELF)).toBe(-EBUSY);
    expect(status(dom0, p).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_ipi);
  });

  it("reset_cont: -ESRCH, -EPERM and -EINVAL come before -EBUSY", () => {
    const {
      dom0,
      domUs: [a, b],
    } = world({}, {});
    expect(resetCont(dom0, 55)).toBe(-ESRCH);
    expect(resetCont(a!, b!.domid)).toBe(-EPERM);
    expect(resetCont(dom0, b!.domid)).toBe(-EINVAL);
  });

  it("reset: a domain resetting itself closes every port; peers go UNBOUND and allocation restarts at 1", () => {
    const {
      dom0,
      domUs: [u],
    } = world({ vcpus: 2 });
    const shu = shinfo(u!);
    const [p0, pu] = connect(dom0, u!);
    bindIpi(u!, 1);
    bindVirq(u!, VIRQ.VIRQ_TIMER, 1);
    allocUnbound(u!, 0);
    send(dom0, p0);
    expect(pendingPorts(shu)).toEqual([pu]);
    expect(reset(u!, DOMID_SELF)).toBe(0);
    for (let p = 0; p < 64; p++) expect(status(u!, p).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(pendingPorts(shu)).toEqual([]);
    expect(status(dom0, p0).s).toMatchObject({
      status: EVTCHNSTAT.EVTCHNSTAT_unbound,
      u: { unbound: { dom: u!.domid } },
    });
    expect(bindVirq(u!, VIRQ.VIRQ_TIMER, 1)).toEqual([0, 1]);
    // The old peer can be re-bound by the reset domain.
    expect(bindInterdomain(u!, 0, p0)).toEqual([0, 2]);
  });

  it("reset: dom0 may reset a paused domain", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    hv.pauseDomain(u!.domid);
    bindPirq(dom0, 3);
    allocUnbound(u!, 0);
    expect(reset(dom0, u!.domid)).toBe(0);
    expect(status(u!, 1).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(status(dom0, 1).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_pirq); // dom0's own ports untouched
  });

  it("reset: leaves Xen-consumer ports in place and returns 0", () => {
    const { hv, dom0 } = world();
    const d0 = hv.domainById(0)!;
    const xp = internal(d0).evtchn.allocXenConsumer(false, 0, 0, () => {});
    const [, ipi] = bindIpi(dom0, 0);
    expect(reset(dom0, DOMID_SELF)).toBe(0);
    expect(status(dom0, ipi).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(internal(d0).evtchn.state[xp]).toBe(ECS.UNBOUND);
    expect(reset(dom0, DOMID_SELF)).toBe(0);
  });
});
