// Expected numbers: /usr/include/xen/domctl.h, Xen 4.17 x86_64 (offsetof/sizeof as gcc computes
// them with -D__XEN_TOOLS__; XEN_DOMCTL_INTERFACE_VERSION and XEN_DOMCTL_irq_permission).
import { describe, expect, it } from "vitest";
import {
  XEN_DOMCTL_INTERFACE_VERSION,
  XEN_DOMCTL_IRQ_PERMISSION_SIZE,
  XEN_DOMCTL_SIZE,
  XEN_DOMCTL_irq_permission,
  xen_domctl_irq_permission_layout,
  xen_domctl_layout,
} from "@pvkit/hypervisor-sim/abi";
import { expectLayout } from "./expect-layout.js";

describe("domctl.h", () => {
  it("lays out xen_domctl in 144 bytes: cmd, interface_version, domain, _pad[3], the 128-byte union at 16", () => {
    expectLayout(xen_domctl_layout, XEN_DOMCTL_SIZE, 144, {
      cmd: [0, 4],
      interface_version: [4, 4],
      domain: [8, 2],
      _pad: [10, 6],
      u: [16, 128],
      "u.irq_permission": [16, 8],
      "u.irq_permission.pirq": [16, 4],
      "u.irq_permission.allow_access": [20, 1],
    });
  });

  it("lays out xen_domctl_irq_permission as {pirq u32 @0, allow_access u8 @4, pad[3]} in 8 bytes", () => {
    expectLayout(xen_domctl_irq_permission_layout, XEN_DOMCTL_IRQ_PERMISSION_SIZE, 8, {
      pirq: [0, 4],
      allow_access: [4, 1],
      pad: [5, 3],
    });
  });

  it("has Xen 4.17's interface version and command number", () => {
    expect(XEN_DOMCTL_INTERFACE_VERSION).toBe(0x15);
    expect(XEN_DOMCTL_irq_permission).toBe(19);
  });
});
