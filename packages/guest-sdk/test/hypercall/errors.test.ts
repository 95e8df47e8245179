import { describe, expect, it } from "vitest";
import { GNTST, XEN_ERRNO } from "@pvkit/hypervisor-sim/abi";
import { ClosedError, PvkitError } from "@pvkit/hypervisor-sim";
import {
  GrantError,
  GrantStatusError,
  XenError,
  XenbusDeviceError,
  XenbusError,
} from "@pvkit/guest-sdk";

describe("XenError", () => {
  it("carries Xen's errno name, the positive errno and the op for a negative result", () => {
    const e = new XenError("EVTCHNOP_bind_virq", -XEN_ERRNO.EEXIST);
    expect(e).toBeInstanceOf(XenError);
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.errno, e.op]).toEqual([
      "XenError",
      "EEXIST",
      17,
      "EVTCHNOP_bind_virq",
    ]);
    expect(e.message).toBe("EVTCHNOP_bind_virq failed: EEXIST (-17)");
  });

  it('each subclass reports its own name (a XenbusError is no "XenError" in a stack trace)', () => {
    const xb = new XenbusError({ reason: "closed" });
    const dev = new XenbusDeviceError("timeout", "ETIME", "device/vif/0", "no Connected");
    expect([xb.name, xb.code, xb instanceof XenError]).toEqual(["XenbusError", "EIO", true]);
    expect([dev.name, dev.code, dev instanceof XenError]).toEqual([
      "XenbusDeviceError",
      "ETIME",
      true,
    ]);
    expect(String(xb)).toBe("XenbusError: xenbus failed: EIO (-5): closed");
  });

  it("names an errno Xen does not define by its number", () => {
    const e = new XenError("XENMEM_add_to_physmap", -200);
    expect([e.code, e.errno]).toEqual(["E200", 200]);
  });

  it("check returns non-negative results and throws for negative ones", () => {
    expect(XenError.check("XENVER_version", 0x40011)).toBe(0x40011);
    expect(() => XenError.check("EVTCHNOP_send", -XEN_ERRNO.EINVAL, () => "port 9")).toThrow(
      "EVTCHNOP_send failed: EINVAL (-22): port 9",
    );
  });
});

describe("GrantStatusError", () => {
  it("carries the GNTST name, status value, op, batch index and batch", () => {
    const batch = [{ status: 0 }, { status: GNTST.GNTST_bad_gntref }];
    const e = new GrantStatusError("GNTTABOP_map_grant_ref", 1, GNTST.GNTST_bad_gntref, batch);
    expect(e).toBeInstanceOf(GrantStatusError);
    expect(e).not.toBeInstanceOf(XenError);
    expect([e.name, e.code, e.status, e.op, e.index]).toEqual([
      "GrantStatusError",
      "GNTST_bad_gntref",
      -3,
      "GNTTABOP_map_grant_ref",
      1,
    ]);
    expect(e.batch).toBe(batch);
    expect(e.message).toBe("GNTTABOP_map_grant_ref[1] failed: GNTST_bad_gntref (-3)");
  });
});

describe("ClosedError", () => {
  it("names the op and the closed object, with pvkit's ERR_CLOSED code (no errno: Xen was not asked)", () => {
    const e = new ClosedError("event channel port 5", "notify");
    expect([e.name, e.code, e.op, e.what]).toEqual([
      "ClosedError",
      "ERR_CLOSED",
      "notify",
      "event channel port 5",
    ]);
    expect(e.message).toBe("notify: event channel port 5 is closed");
    expect(e).toBeInstanceOf(PvkitError);
    expect(e).not.toBeInstanceOf(XenError);
  });
});

describe("PvkitError", () => {
  it("is the base of pvkit's own errors, each with its own name and an ERR_* code", () => {
    const g = new GrantError("ERR_NO_PAGES", "no page");
    expect([g.name, g.code, g.message, g instanceof PvkitError]).toEqual([
      "GrantError",
      "ERR_NO_PAGES",
      "ERR_NO_PAGES: no page",
      true,
    ]);
  });
});
