// Regressions for three divergences from Xen 4.17 found in review.
import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import {
  EVTCHNOP,
  SCHEDOP,
  SHUTDOWN,
  XEN_DOMCTL_irq_permission,
  XEN_ERRNO,
} from "@pvkit/hypervisor-sim/abi";
import { internal } from "../internals.js";

function hv2() {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  const du = hv.createDomain();
  return { hv, du, g0: hv.guest(0), gu: hv.guest(du.domid) };
}

describe("event_channel_op argument handling", () => {
  it("returns -ENOSYS for an unknown command even when the argument is unreadable", () => {
    const { g0 } = hv2();
    expect(g0.hypercall.event_channel_op(99, null)).toBe(-XEN_ERRNO.ENOSYS);
  });
  it("returns -EFAULT for a known command with an unreadable argument", () => {
    const { g0 } = hv2();
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, null as never)).toBe(
      -XEN_ERRNO.EFAULT,
    );
  });
});

describe("EVTCHNOP_reset of another domain", () => {
  it("returns -EINVAL when the domain is stopped by its own shutdown, not paused by the toolstack", async () => {
    const { du, g0, gu } = hv2();
    await gu.hypercall.sched_op(SCHEDOP.SCHEDOP_shutdown, { reason: SHUTDOWN.SHUTDOWN_poweroff });
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_reset, { dom: du.domid })).toBe(
      -XEN_ERRNO.EINVAL,
    );
  });
  it("succeeds once the toolstack has paused it", () => {
    const { hv, du, g0 } = hv2();
    hv.pauseDomain(du.domid);
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_reset, { dom: du.domid })).toBe(0);
  });
});

describe("XEN_DOMCTL_irq_permission", () => {
  const permit = (pirq: number, domain: number) => ({
    cmd: XEN_DOMCTL_irq_permission,
    domain,
    u: { irq_permission: { pirq, allow_access: 1 } },
  });
  it("checks the PIRQ against the caller's nr_pirqs, not the target's", () => {
    const { du, g0 } = hv2();
    expect(internal(du).nrPirqs).toBe(56);
    expect(g0.hypercall.domctl(permit(100, du.domid))).toBe(0);
    expect(g0.hypercall.domctl(permit(280, du.domid))).toBe(-XEN_ERRNO.EINVAL);
  });
  it("returns -EPERM from an unprivileged caller", () => {
    const { du, gu } = hv2();
    expect(gu.hypercall.domctl(permit(1, du.domid))).toBe(-XEN_ERRNO.EPERM);
  });
});
