// Shared set-up for the event tests: dom0 and a domU, each with its event subsystem.
import { Hypervisor, type UpcallTrace } from "@pvkit/hypervisor-sim";
import { EventChannels } from "@pvkit/guest-sdk";

export function twoGuests(mode: "manual" | "auto" = "manual", vcpus = 2, chaosSeed?: number) {
  const hv = new Hypervisor({ mode, ...(chaosSeed !== undefined ? { chaos: { seed: chaosSeed } } : {}) });
  hv.createDomain({ vcpus });
  const du = hv.createDomain({ vcpus });
  const g0 = hv.guest(0);
  const gu = hv.guest(du.domid);
  const ev0 = EventChannels.of(g0);
  const evu = EventChannels.of(gu);
  const upcalls: UpcallTrace[] = [];
  hv.trace.on("upcall", (e) => upcalls.push(e));
  /** Upcalls Xen delivered to `domid`'s `vcpu` so far. */
  const upcallsOf = (domid: number, vcpu = 0): number => upcalls.filter((u) => u.domid === domid && u.vcpu === vcpu).length;
  return { hv, du, g0, gu, ev0, evu, upcallsOf };
}

/** Offsets in shared_info (x86_64) the tests inspect. */
export const SH = {
  upcallPending: (vcpu: number) => vcpu * 64,
  upcallMask: (vcpu: number) => vcpu * 64 + 1,
  selLo: (vcpu: number) => vcpu * 64 + 8,
  selHi: (vcpu: number) => vcpu * 64 + 12,
  pendingByte: (port: number) => 0x800 + (port >>> 3),
  maskByte: (port: number) => 0xa00 + (port >>> 3),
} as const;
