import { describe, expect, it } from "vitest";
import { Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import { VCPU_INFO_TIME, shinfoVcpuInfo } from "@pvkit/hypervisor-sim/abi";
import { EventChannels, GuestClock, GuestPageAllocator } from "@pvkit/guest-sdk";
import { scaleDelta } from "@pvkit/guest-sdk/wire";

/** A guest of two vCPUs with its event subsystem (which maps shared_info). */
function booted() {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  const g = hv.guest(hv.createDomain({ nrPages: 64, vcpus: 2 }).domid);
  const ev = EventChannels.of(g);
  return { hv, g, ev, clock: GuestClock.of(g, ev) };
}

/** A page holding one vcpu_time_info for vCPU 0 at its place in shared_info. */
function timeInfo(fields: {
  version: number;
  stamp: number;
  system: number;
  mul: number;
  shift: number;
}): Page {
  const hv = new Hypervisor({ mode: "manual" });
  const page = hv.guest(hv.createDomain({ nrPages: 4 }).domid).memory.writablePage(1);
  const b = shinfoVcpuInfo(0) + VCPU_INFO_TIME;
  page.setU32(b, fields.version);
  page.setU64(b + 8, fields.stamp);
  page.setU64(b + 16, fields.system);
  page.setU32(b + 24, fields.mul);
  page.setU8(b + 28, fields.shift & 0xff);
  return page;
}

describe("GuestClock", () => {
  it("reads the hypervisor's virtual time on every vCPU, carried forward by the TSC between refreshes", () => {
    const { hv, clock } = booted();
    expect(clock.now(0)).toBe(hv.now);
    hv.advance(1_234_567); // no upcall: Xen does not refresh vcpu_time_info meanwhile
    expect(hv.now).toBe(1_234_567);
    expect(clock.now(0)).toBe(hv.now);
    expect(clock.now(1)).toBe(hv.now);
  });

  it("needs only shared_info: of(guest) sets up no event channels, and a later EventChannels.of finds the page where the clock mapped it", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const g = hv.guest(hv.createDomain({ nrPages: 64 }).domid);
    const clock = GuestClock.of(g);
    expect(EventChannels.existing(g)).toBeUndefined();
    hv.advance(5_000);
    expect(clock.now()).toBe(hv.now);
    // The event subsystem can still be set up with any options: here FIFO.
    const ev = EventChannels.of(g, { abi: "fifo", pages: new GuestPageAllocator(g.memory) });
    expect(ev.abi).toBe("fifo");
    expect(GuestClock.of(g, ev).now()).toBe(clock.now());
    hv.advance(7_000);
    expect(clock.now()).toBe(hv.now);
  });

  it("applies pvclock's formula: system_time + ((tsc - tsc_timestamp) shifted) * mul >> 32", () => {
    const fake = (tsc: number) => ({ rdtsc: () => tsc, nrVcpus: 1 });
    const identity = timeInfo({
      version: 2,
      stamp: 1000,
      system: 5000,
      mul: 0x8000_0000,
      shift: 1,
    });
    expect(new GuestClock(fake(3000), identity).now()).toBe(7000);
    // A 2 GHz TSC: two ticks a nanosecond (shift -1 halves, mul ~1.0).
    const twoGhz = timeInfo({ version: 4, stamp: 10, system: 100, mul: 0xffff_ffff, shift: -1 });
    expect(new GuestClock(fake(2010), twoGhz).now()).toBe(100 + 999); // 1000 * (2^32 - 1) >> 32
    expect(scaleDelta(2 ** 40, 0x8000_0000, 1)).toBe(2 ** 40); // exact past 2^32
    expect(scaleDelta(3, 0x8000_0000, 0)).toBe(1); // 1.5 truncates
  });

  it("retries while the version is odd or changes, and gives up if Xen never finishes", () => {
    const b = shinfoVcpuInfo(0) + VCPU_INFO_TIME;
    const page = timeInfo({ version: 6, stamp: 0, system: 50, mul: 0x8000_0000, shift: 1 });
    let reads = 0;
    const guest = {
      nrVcpus: 1,
      rdtsc: () => {
        // Xen updates the record between our reads the first time round.
        if (reads++ === 0) page.setU32(b, 8);
        return 10;
      },
    };
    expect(new GuestClock(guest, page).now()).toBe(60);
    expect(reads).toBe(2);
    page.setU32(b, 9);
    expect(() => new GuestClock(guest, page).now()).toThrow(/never settled/);
    expect(() => new GuestClock(guest, page).now(1)).toThrow(RangeError);
  });
});
