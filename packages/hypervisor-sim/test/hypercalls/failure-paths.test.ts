// Failure paths of the non-event, non-grant hypercalls, each with Xen 4.17's answer.
import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  EVTCHNOP,
  VCPUOP,
  VIRQ,
  XEN_DOMCTL_irq_permission,
  XENMAPSPACE,
  XENMEM,
  XENVER,
  XEN_ERRNO,
} from "@pvkit/hypervisor-sim/abi";
import { mapSharedInfo } from "../helpers.js";
import { internal } from "../internals.js";

function setup() {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain({ vcpus: 2 });
  const a = hv.createDomain();
  const b = hv.createDomain();
  return { hv, g0: hv.guest(0), ga: hv.guest(a.domid), b };
}
const shinfoAt = (domid: number, gpfn: number, idx = 0) => ({
  domid,
  space: XENMAPSPACE.XENMAPSPACE_shared_info,
  idx,
  gpfn,
});

describe("memory_op", () => {
  it("add_to_physmap: -ESRCH for an unknown domain", () => {
    const { g0 } = setup();
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, shinfoAt(99, 0x10000))).toBe(
      -XEN_ERRNO.ESRCH,
    );
  });
  it("add_to_physmap: -EPERM when an unprivileged domain names another", () => {
    const { ga, b } = setup();
    expect(ga.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, shinfoAt(b.domid, 0x10000))).toBe(
      -XEN_ERRNO.EPERM,
    );
  });
  it("add_to_physmap: -EINVAL for shared_info idx other than 0 and for an unsupported space", () => {
    const { g0 } = setup();
    expect(
      g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, shinfoAt(DOMID_SELF, 0x10000, 1)),
    ).toBe(-XEN_ERRNO.EINVAL);
    expect(
      g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
        domid: DOMID_SELF,
        space: XENMAPSPACE.XENMAPSPACE_gmfn,
        idx: 0,
        gpfn: 0x10000,
      }),
    ).toBe(-XEN_ERRNO.EINVAL);
  });
  it("add_to_physmap: -EFAULT for an unreadable argument", () => {
    const { g0 } = setup();
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, null)).toBe(-XEN_ERRNO.EFAULT);
  });
  it("reservation queries: the page counts, -ESRCH and -EPERM", () => {
    const { g0, ga, b } = setup();
    ga.memory.writablePage(3).setU8(0, 1);
    expect(ga.hypercall.memory_op(XENMEM.XENMEM_current_reservation, { domid: DOMID_SELF })).toBe(
      1,
    );
    expect(ga.hypercall.memory_op(XENMEM.XENMEM_maximum_reservation, { domid: DOMID_SELF })).toBe(
      1024,
    );
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_maximum_reservation, { domid: 99 })).toBe(
      -XEN_ERRNO.ESRCH,
    );
    expect(ga.hypercall.memory_op(XENMEM.XENMEM_maximum_reservation, { domid: b.domid })).toBe(
      -XEN_ERRNO.EPERM,
    );
  });
  it("returns -ENOSYS for a command that is not simulated", () => {
    const { g0 } = setup();
    expect(g0.hypercall.memory_op(XENMEM.XENMEM_populate_physmap, {})).toBe(-XEN_ERRNO.ENOSYS);
  });
});

describe("set_timer_op", () => {
  it("treats a negative timeout as 'fire in 100 ms', returning 0 as Xen does", () => {
    const { hv, g0 } = setup();
    const sh = mapSharedInfo(g0);
    const t = { virq: VIRQ.VIRQ_TIMER, vcpu: 0, port: 0 };
    g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, t);
    const pending = () => (sh.getU8(0x800 + (t.port >>> 3)) >> (t.port & 7)) & 1;
    expect(g0.hypercall.set_timer_op(-5)).toBe(0);
    hv.advance(99_999_999);
    expect(pending()).toBe(0);
    hv.advance(1);
    expect(pending()).toBe(1);
  });
  it("treats a timeout 2^50 ns or more ahead the same way", () => {
    const { hv, g0 } = setup();
    expect(g0.hypercall.set_timer_op(2 ** 50)).toBe(0);
    expect(internal(hv.domainById(0)!).vcpus[0]!.singleshot?.at).toBe(100_000_000);
  });
});

describe("vcpu_op", () => {
  it("is_up answers 1 for an existing vCPU and -ENOENT for a missing one; unknown commands -ENOSYS", () => {
    const { g0 } = setup();
    expect(g0.hypercall.vcpu_op(VCPUOP.VCPUOP_is_up, 1)).toBe(1);
    expect(g0.hypercall.vcpu_op(VCPUOP.VCPUOP_is_up, 2)).toBe(-XEN_ERRNO.ENOENT);
    expect(g0.hypercall.vcpu_op(VCPUOP.VCPUOP_send_nmi, 0)).toBe(-XEN_ERRNO.ENOSYS);
  });
  it("set_singleshot_timer: -EFAULT for an unreadable argument; stop on another vCPU is -EINVAL", () => {
    const { g0 } = setup();
    expect(g0.hypercall.vcpu_op(VCPUOP.VCPUOP_set_singleshot_timer, 0, null)).toBe(
      -XEN_ERRNO.EFAULT,
    );
    expect(g0.hypercall.vcpu_op(VCPUOP.VCPUOP_stop_singleshot_timer, 1)).toBe(-XEN_ERRNO.EINVAL);
  });
});

describe("xen_version", () => {
  it("answers 4.17 for XENVER_version and -ENOSYS for an unknown command", () => {
    const { g0 } = setup();
    expect(g0.hypercall.xen_version(XENVER.XENVER_version)).toBe((4 << 16) | 17);
    expect(g0.hypercall.xen_version(999)).toBe(-XEN_ERRNO.ENOSYS);
  });
});

describe("domctl", () => {
  const permit = (domain: number) => ({
    cmd: XEN_DOMCTL_irq_permission,
    domain,
    u: { irq_permission: { pirq: 1, allow_access: 1 } },
  });
  it("looks the domain up before the privilege check: -ESRCH even from an unprivileged caller", () => {
    const { ga } = setup();
    expect(ga.hypercall.domctl(permit(99))).toBe(-XEN_ERRNO.ESRCH);
  });
  it("returns -EFAULT for an unreadable argument and -ENOSYS for an unsimulated command", () => {
    const { g0, b } = setup();
    expect(g0.hypercall.domctl(null as never)).toBe(-XEN_ERRNO.EFAULT);
    expect(g0.hypercall.domctl({ cmd: 1, domain: b.domid, u: {} })).toBe(-XEN_ERRNO.ENOSYS);
  });
});

describe("Hypervisor.sendVirq", () => {
  it("sends a per-vCPU VIRQ to the named vCPU and a global one through vCPU 0's binding", () => {
    const { hv, g0 } = setup();
    const sh = mapSharedInfo(g0);
    const dbg = { virq: VIRQ.VIRQ_DEBUG, vcpu: 1, port: 0 };
    const con = { virq: VIRQ.VIRQ_CONSOLE, vcpu: 0, port: 0 };
    g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, dbg);
    g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, con);
    const pending = (p: number) => (sh.getU8(0x800 + (p >>> 3)) >> (p & 7)) & 1;
    hv.sendVirq(0, VIRQ.VIRQ_DEBUG, 0); // not bound on vCPU 0: dropped
    expect(pending(dbg.port)).toBe(0);
    hv.sendVirq(0, VIRQ.VIRQ_DEBUG, 1);
    hv.sendVirq(0, VIRQ.VIRQ_CONSOLE);
    expect([pending(dbg.port), pending(con.port)]).toEqual([1, 1]);
    expect(() => hv.sendVirq(0, VIRQ.VIRQ_DEBUG, 5)).toThrow(RangeError);
  });
});
