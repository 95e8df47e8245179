/**
 * The FIFO state the SDK keeps for a guest across EventChannels instances, against what Xen
 * actually runs: a toolstack's EVTCHNOP_reset, running out of pages, init_control failing on a
 * later vCPU, and garbage the guest writes into its own control block.
 */
import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { EVTCHNOP, XENVER } from "@pvkit/hypervisor-sim/abi";
import { EventChannels, GrantError, GuestPageAllocator, XenError } from "@pvkit/guest-sdk";
import { evtchnInitControl } from "@pvkit/guest-sdk/hypercall";

function domU(vcpus = 1) {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  const du = hv.createDomain({ vcpus });
  return { hv, du, g: hv.guest(du.domid), dom0: hv.guest(0) };
}

describe("FIFO state across EventChannels instances", () => {
  it("notices a toolstack's EVTCHNOP_reset (Xen back on 2-level): both ABIs work again and the pages are freed", () => {
    const { hv, du, g, dom0 } = domU();
    const pages = new GuestPageAllocator(g.memory);
    const ev = EventChannels.of(g, { abi: "fifo", pages });
    const a = ev.bindIpi(0);
    a.notify();
    hv.runUntilIdle();
    expect(a.count).toBe(1);
    const used = pages.allocated;
    ev.close();
    hv.pauseDomain(du.domid);
    expect(dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_reset, { dom: du.domid })).toBe(0);
    hv.unpauseDomain(du.domid);

    const ev2 = EventChannels.of(g, { abi: "fifo", pages }); // switches again, with init_control
    expect(ev2.abi).toBe("fifo");
    const b = ev2.bindIpi(0);
    expect(pages.allocated).toBe(used); // the old control and array pages were freed, new ones taken
    b.notify();
    hv.runUntilIdle();
    expect(b.count).toBe(1);

    ev2.close();
    hv.pauseDomain(du.domid);
    dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_reset, { dom: du.domid });
    hv.unpauseDomain(du.domid);
    const ev3 = EventChannels.of(g); // 2-level is accepted again
    const c = ev3.bindIpi(0);
    c.notify();
    hv.runUntilIdle();
    expect([ev3.abi, c.count]).toEqual(["2l", 1]);
  });

  it("takes every control page before the first init_control: too few pages leave Xen on 2-level", () => {
    const { hv, g } = domU(2);
    const pages = new GuestPageAllocator(g.memory, { count: 1 });
    expect(() => EventChannels.of(g, { abi: "fifo", pages })).toThrow(GrantError);
    expect(pages.allocated).toBe(0);
    const ev = EventChannels.of(g); // 2-level, and Xen agrees
    const ch = ev.bindIpi(0);
    ch.notify();
    hv.runUntilIdle();
    expect(ch.count).toBe(1);
  });

  it("remembers a switch that failed on a later vCPU: Xen is on FIFO, so 2-level is refused", () => {
    const { g } = domU(2);
    const pages = new GuestPageAllocator(g.memory);
    // vCPU 1's control block registered behind the SDK's back: its init_control will fail.
    const stray = pages.alloc();
    evtchnInitControl(g.vcpu(0), stray.gfn, 0, 1);
    expect(() => EventChannels.of(g, { abi: "fifo", pages })).toThrow(XenError);
    expect(() => EventChannels.of(g)).toThrow(/switched to the FIFO event ABI/);
  });
});

describe("FIFO consumption against a guest's own garbage", () => {
  it("ignores ready bits above the 16 queues instead of crashing its domain", () => {
    const { hv, du, g } = domU();
    const pages = new GuestPageAllocator(g.memory);
    const ev = EventChannels.of(g, { abi: "fifo", pages }); // no port bound yet: no event array page
    const control = g.memory.writablePage(pages.first); // the first page taken: vCPU 0's control block
    control.setU32(0, 1 << 16); // a stray ready bit for a queue that does not exist
    g.memory.writablePage(ev.sharedInfoGfn).setU8(0, 1); // and upcall_pending, so the upcall runs
    g.vcpu(0).xen_version(XENVER.XENVER_version);
    hv.runUntilIdle();
    expect(du.isDying).toBe(false);
    const ch = ev.bindIpi(0);
    ch.notify();
    hv.runUntilIdle();
    expect(ch.count).toBe(1); // still working
  });
});
