import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { EVTCHNOP, EVTCHNSTAT, VIRQ } from "@pvkit/hypervisor-sim/abi";
import { connect, mapSharedInfo } from "../helpers.js";
import { internal } from "../internals.js";

describe("domains", () => {
  it("makes the first domain dom0, the privileged control domain, and numbers the rest from 1", () => {
    const hv = new Hypervisor({ mode: "manual" });
    const d0 = hv.createDomain();
    const d1 = hv.createDomain();
    const d2 = hv.createDomain({ name: "web" });
    expect([d0.domid, d1.domid, d2.domid]).toEqual([0, 1, 2]);
    expect(d0.isPrivileged).toBe(true);
    expect(d1.isPrivileged).toBe(false);
    expect(d2.name).toBe("web");
  });

  it("does not reuse a destroyed domain's id right away (rover allocation)", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const d1 = hv.createDomain();
    hv.destroyDomain(d1.domid);
    expect(hv.createDomain().domid).toBe(2);
  });

  it("applies libxl's defaults to a domU (1023 event channel ports, 64 grant frames, 1 vCPU) and create_dom0's port limit to dom0", () => {
    const hv = new Hypervisor({ mode: "manual" });
    const dom0 = hv.createDomain();
    const d = hv.createDomain();
    expect(d.options.maxEvtchnPort).toBe(1023);
    expect(d.options.maxGrantFrames).toBe(64);
    expect(d.vcpus.length).toBe(1);
    expect(dom0.options.maxEvtchnPort).toBe(0x7fff_ffff); // max_evtchn_port = -1, capped at INT_MAX
  });

  it("rejects out-of-range options with RangeError", () => {
    const hv = new Hypervisor({ mode: "manual" });
    expect(() => hv.createDomain({ vcpus: 0 })).toThrow(RangeError);
    expect(() => hv.createDomain({ vcpus: 33 })).toThrow(RangeError);
    expect(() => hv.createDomain({ nrPages: 0 })).toThrow(RangeError);
  });

  it("writes the boot wall clock into shared_info with an even wc_version", () => {
    const hv = new Hypervisor({ mode: "manual", wallclockSec: 1_800_000_000 });
    hv.createDomain();
    const sh = mapSharedInfo(hv.guest(0));
    expect(sh.getU32(0xc00) % 2).toBe(0);
    expect(sh.getU32(0xc04)).toBe(1_800_000_000);
    expect(sh.getU32(0xc0c)).toBe(0);
  });

  it("on destroy closes the domain's ports, leaves peers UNBOUND and raises VIRQ_DOM_EXC in dom0", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain();
    const g0 = hv.guest(0);
    const sh0 = mapSharedInfo(g0);
    const exc = { virq: VIRQ.VIRQ_DOM_EXC, vcpu: 0, port: 0 };
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_virq, exc)).toBe(0);
    const [p0] = connect(g0, hv.guest(du.domid));
    hv.destroyDomain(du.domid);
    const st = { dom: 0x7ff0, port: p0, status: -1, vcpu: -1 };
    expect(g0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_status, st)).toBe(0);
    expect(st.status).toBe(EVTCHNSTAT.EVTCHNSTAT_unbound);
    expect(sh0.getU8(0x800 + (exc.port >>> 3)) & (1 << (exc.port & 7))).not.toBe(0);
    expect(hv.domainById(du.domid)).toBeUndefined();
    expect(() => hv.guest(du.domid)).toThrow(RangeError);
  });

  it("kills a destroyed domain's page views", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain();
    const page = hv.guest(du.domid).memory.writablePage(5);
    page.setU32(0, 42);
    hv.destroyDomain(du.domid);
    expect(() => page.getU32(0)).toThrow(/gone/);
  });

  it("counts pause references", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const du = hv.createDomain({ paused: true });
    expect(du.isPaused).toBe(true);
    hv.pauseDomain(du.domid);
    hv.unpauseDomain(du.domid);
    expect(du.isPaused).toBe(true);
    hv.unpauseDomain(du.domid);
    expect(du.isPaused).toBe(false);
    expect(() => hv.unpauseDomain(du.domid)).toThrow(RangeError);
  });
});

describe("guest memory", () => {
  it("allocates RAM frames lazily and zeroed", () => {
    const hv = new Hypervisor({ mode: "manual" });
    const d = hv.createDomain({ nrPages: 16 });
    const mem = hv.guest(0).memory;
    expect(internal(d).physmap.populated).toBe(0);
    expect(mem.page(3).getU32(100)).toBe(0);
    expect(internal(d).physmap.populated).toBe(1);
  });

  it("throws for a hole and for out-of-page access", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain({ nrPages: 16 });
    const mem = hv.guest(0).memory;
    expect(() => mem.page(16)).toThrow(RangeError);
    const p = mem.writablePage(0);
    expect(() => p.getU32(4093)).toThrow(RangeError);
    expect(() => p.setU8(0, 256)).toThrow(RangeError);
    expect(() => p.write(4000, new Uint8Array(97))).toThrow(RangeError);
  });

  it("returns private copies from read()", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const p = hv.guest(0).memory.writablePage(1);
    p.write(0, Uint8Array.of(1, 2, 3));
    const copy = p.read(0, 3);
    p.setU8(0, 9);
    expect([...copy]).toEqual([1, 2, 3]);
  });
});

describe("Page.readInto", () => {
  it("copies short and long ranges and rejects a destination overrun", () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain();
    const p = hv.guest(0).memory.writablePage(2);
    const src = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff);
    p.write(0, src);
    const small = new Uint8Array(20);
    p.readInto(100, small, 4, 16);
    expect([...small.subarray(4)]).toEqual([...src.subarray(100, 116)]);
    expect([...small.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    const big = new Uint8Array(4096);
    p.readInto(0, big);
    expect(big).toEqual(src);
    expect(() => p.readInto(0, small, 10, 16)).toThrow(RangeError);
    expect(() => p.readInto(4090, small, 0, 16)).toThrow(RangeError);
  });
});
