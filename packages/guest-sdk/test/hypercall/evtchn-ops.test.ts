import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { DOMID_SELF, VIRQ, XEN_ERRNO } from "@pvkit/hypervisor-sim/abi";
import { XenError } from "@pvkit/guest-sdk";
import {
  evtchnAllocUnbound,
  evtchnBindInterdomain,
  evtchnBindIpi,
  evtchnBindPirq,
  evtchnBindVcpu,
  evtchnBindVirq,
  evtchnClose,
  evtchnReset,
  evtchnSend,
  evtchnStatus,
  evtchnUnmask,
} from "@pvkit/guest-sdk/hypercall";

function twoDomains() {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain({ vcpus: 2 });
  const du = hv.createDomain({ vcpus: 2 });
  return { hv, g0: hv.guest(0), gu: hv.guest(du.domid), du };
}

/** Runs `f` and returns the XenError it throws (fails the test if it does not throw one). */
function xenErrorOf(f: () => unknown): XenError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(XenError);
    return e as XenError;
  }
  throw new Error("expected a XenError");
}

describe("event-channel wrappers", () => {
  it("connects two domains and reports both ends with evtchnStatus", () => {
    const { g0, gu, du } = twoDomains();
    const p0 = evtchnAllocUnbound(g0.hypercall, du.domid);
    expect(evtchnStatus(g0.hypercall, p0)).toEqual({
      state: "unbound",
      vcpu: 0,
      remoteDom: du.domid,
    });
    const pu = evtchnBindInterdomain(gu.hypercall, 0, p0);
    expect(evtchnStatus(gu.hypercall, pu)).toEqual({
      state: "interdomain",
      vcpu: 0,
      remoteDom: 0,
      remotePort: p0,
    });
    expect(evtchnStatus(g0.hypercall, p0)).toEqual({
      state: "interdomain",
      vcpu: 0,
      remoteDom: du.domid,
      remotePort: pu,
    });
    // dom0 is privileged: it may query the domU's port too.
    expect(evtchnStatus(g0.hypercall, pu, du.domid).state).toBe("interdomain");
  });

  it("throws EINVAL with the op name when binding to a port that is not unbound", () => {
    const { g0, gu, du } = twoDomains();
    const p0 = evtchnAllocUnbound(g0.hypercall, du.domid);
    evtchnBindInterdomain(gu.hypercall, 0, p0);
    const e = xenErrorOf(() => evtchnBindInterdomain(gu.hypercall, 0, p0));
    expect(e.code).toBe("EINVAL");
    expect(e.errno).toBe(XEN_ERRNO.EINVAL);
    expect(e.op).toBe("EVTCHNOP_bind_interdomain");
    expect(e.message).toContain("EVTCHNOP_bind_interdomain");
    expect(e.message).toContain("EINVAL");
  });

  it("throws EINVAL when the unbound port accepts another domain", () => {
    const { hv, g0, gu } = twoDomains();
    const other = hv.createDomain();
    const p0 = evtchnAllocUnbound(g0.hypercall, other.domid);
    expect(xenErrorOf(() => evtchnBindInterdomain(gu.hypercall, 0, p0)).code).toBe("EINVAL");
  });

  it("throws ESRCH for an unknown remote domain and EPERM for an unprivileged alloc in another domain", () => {
    const { gu } = twoDomains();
    expect(xenErrorOf(() => evtchnBindInterdomain(gu.hypercall, 77, 1)).code).toBe("ESRCH");
    const e = xenErrorOf(() => evtchnAllocUnbound(gu.hypercall, DOMID_SELF, 0));
    expect([e.code, e.errno, e.op]).toEqual(["EPERM", 1, "EVTCHNOP_alloc_unbound"]);
  });

  it("throws EINVAL for a global VIRQ on vcpu 1, ENOENT for a missing vcpu, EEXIST for a second bind", () => {
    const { g0 } = twoDomains();
    const e = xenErrorOf(() => evtchnBindVirq(g0.hypercall, VIRQ.VIRQ_DOM_EXC, 1));
    expect([e.code, e.op]).toEqual(["EINVAL", "EVTCHNOP_bind_virq"]);
    expect(xenErrorOf(() => evtchnBindVirq(g0.hypercall, VIRQ.VIRQ_TIMER, 5)).code).toBe("ENOENT");
    expect(xenErrorOf(() => evtchnBindVirq(g0.hypercall, 24, 0)).code).toBe("EINVAL");
    const p = evtchnBindVirq(g0.hypercall, VIRQ.VIRQ_TIMER, 1);
    expect(evtchnStatus(g0.hypercall, p)).toEqual({
      state: "virq",
      vcpu: 1,
      virq: VIRQ.VIRQ_TIMER,
    });
    expect(xenErrorOf(() => evtchnBindVirq(g0.hypercall, VIRQ.VIRQ_TIMER, 1)).code).toBe("EEXIST");
  });

  it("binds IPIs and PIRQs, and reports their kinds", () => {
    const { hv, g0, gu } = twoDomains();
    const ipi = evtchnBindIpi(g0.hypercall, 1);
    expect(evtchnStatus(g0.hypercall, ipi)).toEqual({ state: "ipi", vcpu: 1 });
    expect(xenErrorOf(() => evtchnBindIpi(g0.hypercall, 2)).code).toBe("ENOENT");
    const pirq = evtchnBindPirq(g0.hypercall, 9);
    expect(evtchnStatus(g0.hypercall, pirq)).toEqual({ state: "pirq", vcpu: 0, pirq: 9 });
    expect(xenErrorOf(() => evtchnBindPirq(g0.hypercall, 9)).code).toBe("EEXIST");
    // A domU has no access to a PIRQ nobody granted it.
    expect(xenErrorOf(() => evtchnBindPirq(gu.hypercall, 9)).code).toBe("EPERM");
    expect(xenErrorOf(() => evtchnBindPirq(g0.hypercall, 100_000)).code).toBe("EINVAL");
    void hv;
  });

  it("closes a port: the peer goes back to unbound and a second close is EINVAL", () => {
    const { g0, gu, du } = twoDomains();
    const p0 = evtchnAllocUnbound(g0.hypercall, du.domid);
    const pu = evtchnBindInterdomain(gu.hypercall, 0, p0);
    evtchnClose(gu.hypercall, pu);
    expect(evtchnStatus(gu.hypercall, pu).state).toBe("closed");
    expect(evtchnStatus(g0.hypercall, p0)).toEqual({
      state: "unbound",
      vcpu: 0,
      remoteDom: du.domid,
    });
    const e = xenErrorOf(() => evtchnClose(gu.hypercall, pu));
    expect([e.code, e.op]).toEqual(["EINVAL", "EVTCHNOP_close"]);
  });

  it("sends on an unbound port without error and rejects send on a VIRQ port with EINVAL", () => {
    const { g0, du } = twoDomains();
    const p0 = evtchnAllocUnbound(g0.hypercall, du.domid);
    expect(() => evtchnSend(g0.hypercall, p0)).not.toThrow();
    const v = evtchnBindVirq(g0.hypercall, VIRQ.VIRQ_DEBUG, 0);
    expect([
      xenErrorOf(() => evtchnSend(g0.hypercall, v)).code,
      xenErrorOf(() => evtchnSend(g0.hypercall, 4000)).op,
    ]).toEqual(["EINVAL", "EVTCHNOP_send"]);
  });

  it("moves a port with bind_vcpu, checking the vcpu before the port", () => {
    const { g0, du } = twoDomains();
    const p0 = evtchnAllocUnbound(g0.hypercall, du.domid);
    evtchnBindVcpu(g0.hypercall, p0, 1);
    expect(evtchnStatus(g0.hypercall, p0).vcpu).toBe(1);
    expect(xenErrorOf(() => evtchnBindVcpu(g0.hypercall, 4000, 9)).code).toBe("ENOENT");
    expect(xenErrorOf(() => evtchnBindVcpu(g0.hypercall, 4000, 1)).code).toBe("EINVAL");
    const ipi = evtchnBindIpi(g0.hypercall, 0);
    expect(xenErrorOf(() => evtchnBindVcpu(g0.hypercall, ipi, 1)).code).toBe("EINVAL");
  });

  it("unmasks valid ports and rejects a port beyond the allocated buckets", () => {
    const { g0, du } = twoDomains();
    const p0 = evtchnAllocUnbound(g0.hypercall, du.domid);
    expect(() => evtchnUnmask(g0.hypercall, p0)).not.toThrow();
    expect(xenErrorOf(() => evtchnUnmask(g0.hypercall, 4000)).code).toBe("EINVAL");
  });

  it("resets the caller's ports, leaving peers unbound", () => {
    const { g0, gu, du } = twoDomains();
    const p0 = evtchnAllocUnbound(g0.hypercall, du.domid);
    const pu = evtchnBindInterdomain(gu.hypercall, 0, p0);
    evtchnReset(gu.hypercall);
    expect(evtchnStatus(gu.hypercall, pu).state).toBe("closed");
    expect(evtchnStatus(g0.hypercall, p0).state).toBe("unbound");
    // Resetting a running domain other than yourself needs it paused.
    expect(xenErrorOf(() => evtchnReset(g0.hypercall, du.domid)).code).toBe("EINVAL");
  });
});
