// Shared set-up for the event tests: dom0 and a domU, each with its event subsystem.
import { type Guest, Hypervisor, type UpcallTrace } from "@pvkit/hypervisor-sim";
import { EventChannels, type EventChannelsOptions, GuestPageAllocator } from "@pvkit/guest-sdk";

/** dom0 and a domU on the 2-level ABI (see `guestsOn`). */
export function twoGuests(mode: "manual" | "auto" = "manual", vcpus = 2, chaosSeed?: number) {
  return guestsOn("2l", { mode, vcpus, ...(chaosSeed !== undefined ? { chaosSeed } : {}) });
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

/** The event ABIs the shared behaviour tests run under. */
export const ABIS = ["2l", "fifo"] as const;
/** One of `ABIS`. */
export type Abi = (typeof ABIS)[number];

/** Options of `guestsOn`. */
export interface GuestsOnOptions {
  mode?: "manual" | "auto";
  vcpus?: number;
  chaosSeed?: number;
  /** The domU's max_evtchn_port (default Xen's 1023). */
  maxEvtchnPort?: number;
}

/** EventChannels options for `abi` on guest `g`: FIFO takes its pages from a fresh allocator. */
export function abiOptions(abi: Abi, g: Guest): EventChannelsOptions {
  return abi === "fifo" ? { abi, pages: new GuestPageAllocator(g.memory) } : { abi };
}

/** `twoGuests` with both event subsystems on `abi`. */
export function guestsOn(abi: Abi, o: GuestsOnOptions = {}) {
  const vcpus = o.vcpus ?? 2;
  const hv = new Hypervisor({
    mode: o.mode ?? "manual",
    ...(o.chaosSeed !== undefined ? { chaos: { seed: o.chaosSeed } } : {}),
  });
  hv.createDomain({ vcpus });
  const du = hv.createDomain({
    vcpus,
    ...(o.maxEvtchnPort !== undefined ? { maxEvtchnPort: o.maxEvtchnPort } : {}),
  });
  const g0 = hv.guest(0);
  const gu = hv.guest(du.domid);
  const ev0 = EventChannels.of(g0, abiOptions(abi, g0));
  const evu = EventChannels.of(gu, abiOptions(abi, gu));
  const upcalls: UpcallTrace[] = [];
  hv.trace.on("upcall", (e) => upcalls.push(e));
  const upcallsOf = (domid: number, vcpu = 0): number =>
    upcalls.filter((u) => u.domid === domid && u.vcpu === vcpu).length;
  /** Names of the hypercalls issued from now on (the trace's `cmd`). */
  const recordCalls = (): string[] => {
    const calls: string[] = [];
    hv.trace.on("hypercall", (h) => calls.push(h.cmd));
    return calls;
  };
  return { hv, du, g0, gu, ev0, evu, upcallsOf, recordCalls };
}
