import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import {
  EVTCHNOP,
  SCHEDOP,
  SHUTDOWN,
  VCPUOP,
  VCPU_SSHOTTMR_future,
  VIRQ,
  XEN_ERRNO,
} from "@pvkit/hypervisor-sim/abi";
import { connect, mapSharedInfo } from "../helpers.js";
import { internal } from "../internals.js";

function setup() {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  const du = hv.createDomain();
  const g0 = hv.guest(0);
  const gu = hv.guest(du.domid);
  const sh0 = mapSharedInfo(g0);
  // dom0 allocates, the domU binds: only the domU's new port starts pending.
  const [p0, pu] = connect(g0, gu);
  return { hv, du, g0, gu, sh0, p0, pu };
}

describe("SCHEDOP_poll", () => {
  it("returns -EINVAL for more than 128 ports", async () => {
    const { g0 } = setup();
    const ports = Array.from({ length: 129 }, () => 1);
    expect(
      await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, { ports, nr_ports: 129, timeout: 0 }),
    ).toBe(-XEN_ERRNO.EINVAL);
  });

  it("returns -EFAULT when the port array is shorter than nr_ports", async () => {
    const { g0 } = setup();
    expect(
      await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, { ports: [1], nr_ports: 2, timeout: 0 }),
    ).toBe(-XEN_ERRNO.EFAULT);
  });

  it("returns -EINVAL for a port at or beyond the ABI limit", async () => {
    const { g0, sh0 } = setup();
    sh0.setU8(1, 1);
    expect(
      await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, { ports: [4096], nr_ports: 1, timeout: 0 }),
    ).toBe(-XEN_ERRNO.EINVAL);
  });

  it("returns -EINVAL for a port below the ABI limit but beyond the valid buckets (port_is_valid)", async () => {
    const { g0, sh0 } = setup();
    sh0.setU8(1, 1);
    expect(
      await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, { ports: [64], nr_ports: 1, timeout: 0 }),
    ).toBe(-XEN_ERRNO.EINVAL);
    expect(
      await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, {
        ports: [1, 200],
        nr_ports: 2,
        timeout: 0,
      }),
    ).toBe(-XEN_ERRNO.EINVAL);
  });

  it("returns -EINVAL at once for a valid port that is not usable (port 0, FREE, a Xen consumer), whatever its pending bit", async () => {
    const { hv, g0, sh0 } = setup();
    sh0.setU8(1, 1);
    const free = 9; // valid (bucket 0) but FREE
    const xen = internal(hv.domainById(0)!).evtchn.allocXenConsumer(false, 0, 0, () => {});
    for (const port of [0, free, xen])
      sh0.setU8(0x800 + (port >>> 3), sh0.getU8(0x800 + (port >>> 3)) | (1 << (port & 7)));
    for (const port of [0, free, xen]) {
      // evtchn_port_poll() starts from -EINVAL and only a usable port replaces it.
      const rc = await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, {
        ports: [port],
        nr_ports: 1,
        timeout: hv.now + 1000,
      });
      expect(rc).toBe(-XEN_ERRNO.EINVAL);
    }
    expect(hv.now).toBe(0); // no timeout ran: none of them blocked
  });

  it("answers the first port in the list that decides: a pending port before an unusable one gives 0, after it -EINVAL", async () => {
    const { g0, sh0, p0 } = setup();
    sh0.setU8(1, 1);
    sh0.setU8(0x800 + (p0 >>> 3), 1 << (p0 & 7));
    const free = 9;
    expect(
      await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, {
        ports: [p0, free],
        nr_ports: 2,
        timeout: 0,
      }),
    ).toBe(0);
    expect(
      await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, {
        ports: [free, p0],
        nr_ports: 2,
        timeout: 0,
      }),
    ).toBe(-XEN_ERRNO.EINVAL);
  });

  it("returns 0 at once when a listed port is already pending", async () => {
    const { g0, sh0, p0 } = setup();
    sh0.setU8(1, 1);
    sh0.setU8(0x800 + (p0 >>> 3), 1 << (p0 & 7));
    expect(
      await g0.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, { ports: [p0], nr_ports: 1, timeout: 0 }),
    ).toBe(0);
  });

  it("wakes when the polled port is raised, even with upcalls masked", async () => {
    const { hv, g0, gu, sh0, p0, pu } = setup();
    sh0.setU8(1, 1);
    let done = false;
    const polled = g0.hypercall
      .sched_op(SCHEDOP.SCHEDOP_poll, { ports: [p0], nr_ports: 1, timeout: 0 })
      .then((rc) => {
        done = true;
        return rc;
      });
    await hv.settle();
    expect(done).toBe(false);
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
    await hv.settle();
    expect(await polled).toBe(0);
    expect(done).toBe(true);
  });

  it("wakes when another port's event sets upcall_pending, as Xen's vcpu_kick unblocks the poller", async () => {
    const { hv, g0, gu, sh0, p0 } = setup();
    sh0.setU8(1, 1);
    // A second channel whose event marks upcall_pending 0 -> 1 on vCPU 0.
    const u = { dom: 0x7ff0, remote_dom: gu.domid, port: 0 };
    g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, u);
    const b = { remote_dom: 0, remote_port: u.port, local_port: 0 };
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, b);
    let done = false;
    const polled = g0.hypercall
      .sched_op(SCHEDOP.SCHEDOP_poll, { ports: [p0], nr_ports: 1, timeout: 0 })
      .then(() => (done = true));
    await hv.settle();
    expect(done).toBe(false);
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: b.local_port });
    await hv.settle();
    await polled;
    expect(done).toBe(true);
    expect(sh0.getU8(0)).toBe(1);
  });

  it("wakes at the absolute timeout in virtual time", async () => {
    const { hv, g0, sh0, p0 } = setup();
    sh0.setU8(1, 1);
    let at = -1;
    const polled = g0.hypercall
      .sched_op(SCHEDOP.SCHEDOP_poll, { ports: [p0], nr_ports: 1, timeout: 5_000_000 })
      .then(() => (at = hv.now));
    hv.advance(4_999_999);
    await hv.settle();
    expect(at).toBe(-1);
    hv.advance(1);
    await hv.settle();
    await polled;
    expect(at).toBe(5_000_000);
  });
});

describe("SCHEDOP_block", () => {
  it("clears evtchn_upcall_mask and resolves once an event is pending", async () => {
    const { hv, g0, gu, sh0, pu } = setup();
    sh0.setU8(1, 1);
    let woke = false;
    const blocked = g0.hypercall.sched_op(SCHEDOP.SCHEDOP_block).then(() => (woke = true));
    expect(sh0.getU8(1)).toBe(0);
    await hv.settle();
    expect(woke).toBe(false);
    gu.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pu });
    await hv.settle();
    await blocked;
    expect(woke).toBe(true);
  });
});

describe("SCHEDOP_shutdown", () => {
  it("shuts the domain down with the reason and raises VIRQ_DOM_EXC in dom0", async () => {
    const { hv, du, g0, gu, sh0 } = setup();
    const v = { virq: VIRQ.VIRQ_DOM_EXC, vcpu: 0, port: 0 };
    g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, v);
    expect(
      await gu.hypercall.sched_op(SCHEDOP.SCHEDOP_shutdown, { reason: SHUTDOWN.SHUTDOWN_poweroff }),
    ).toBe(0);
    expect(du.shutdownCode).toBe(SHUTDOWN.SHUTDOWN_poweroff);
    expect(sh0.getU8(0x800 + (v.port >>> 3)) & (1 << (v.port & 7))).not.toBe(0);
    void hv;
  });
});

describe("timers", () => {
  it("VCPUOP_set_singleshot_timer fires VIRQ_TIMER at the deadline", () => {
    const { hv, g0, sh0 } = setup();
    const t = { virq: VIRQ.VIRQ_TIMER, vcpu: 0, port: 0 };
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, t)).toBe(0);
    expect(
      g0.hypercall.vcpu_op(VCPUOP.VCPUOP_set_singleshot_timer, 0, {
        timeout_abs_ns: 1_000_000,
        flags: 0,
      }),
    ).toBe(0);
    const pending = () => (sh0.getU8(0x800 + (t.port >>> 3)) >> (t.port & 7)) & 1;
    hv.advance(999_999);
    expect(pending()).toBe(0);
    hv.advance(1);
    expect(pending()).toBe(1);
  });

  it("VCPUOP_set_singleshot_timer with VCPU_SSHOTTMR_future in the past returns -ETIME", () => {
    const { hv, g0 } = setup();
    hv.advance(1000);
    expect(
      g0.hypercall.vcpu_op(VCPUOP.VCPUOP_set_singleshot_timer, 0, {
        timeout_abs_ns: 10,
        flags: VCPU_SSHOTTMR_future,
      }),
    ).toBe(-XEN_ERRNO.ETIME);
  });

  it("VCPUOP_set_singleshot_timer on another vCPU returns -EINVAL and on a missing one -ENOENT", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain({ vcpus: 2 });
    const g = hv.guest(0);
    expect(
      g.hypercall.vcpu_op(VCPUOP.VCPUOP_set_singleshot_timer, 1, { timeout_abs_ns: 10, flags: 0 }),
    ).toBe(-XEN_ERRNO.EINVAL);
    expect(
      g.hypercall.vcpu_op(VCPUOP.VCPUOP_set_singleshot_timer, 2, { timeout_abs_ns: 10, flags: 0 }),
    ).toBe(-XEN_ERRNO.ENOENT);
  });

  it("set_timer_op(0) stops a pending timer", () => {
    const { hv, g0, sh0 } = setup();
    const t = { virq: VIRQ.VIRQ_TIMER, vcpu: 0, port: 0 };
    g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, t);
    g0.hypercall.set_timer_op(1000);
    g0.hypercall.set_timer_op(0);
    hv.advance(10_000);
    expect((sh0.getU8(0x800 + (t.port >>> 3)) >> (t.port & 7)) & 1).toBe(0);
  });

  it("updates vcpu_time_info with an even version and the virtual system time", () => {
    const { hv, g0, sh0 } = setup();
    const t = { virq: VIRQ.VIRQ_TIMER, vcpu: 0, port: 0 };
    g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, t);
    g0.hypercall.set_timer_op(2_500_000);
    hv.advance(3_000_000);
    expect(sh0.getU32(32) % 2).toBe(0);
    expect(sh0.getU64(32 + 16)).toBe(2_500_000);
  });
});
