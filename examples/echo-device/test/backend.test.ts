import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { EventChannels, FrontRing, GrantTableClient, GuestPageAllocator } from "@pvkit/guest-sdk";
import { EchoBackend, GO_POLL_NS, HANDOFF, echoSpec } from "@pvkit/example-echo-device";

/** dom0 and a domU whose grant client has an allocator; no frontend runs. */
function domains() {
  const hv = new Hypervisor(); // auto mode: virtual time jumps to the next timer when idle
  const dom0 = hv.guest(hv.createDomain({ name: "Domain-0" }).domid);
  const domU = hv.guest(hv.createDomain({ name: "silent-frontend" }).domid);
  const grants = GrantTableClient.of(domU, { allocator: new GuestPageAllocator(domU.memory) });
  const lines: string[] = [];
  const back = new EchoBackend(dom0, domU.domid, (l) => lines.push(l));
  return { hv, dom0, domU, grants, back, lines };
}

describe("EchoBackend.connect", () => {
  it("gives up after timeoutNs of virtual time when the frontend never sets go, and unmaps the hand-off page", async () => {
    const { hv, dom0, grants, back } = domains();
    const handoff = grants.grantPage(dom0.domid, { readonly: true }); // zeroed: go is 0
    const t0 = hv.now;
    await expect(back.connect(handoff.ref, { timeoutNs: 5_000_000 })).rejects.toThrow(
      `did not set "go" in hand-off ref ${handoff.ref} within 5000000 ns`,
    );
    expect(hv.now - t0).toBe(5_000_000); // the last look is at the deadline
    expect(handoff.end()).toBe("ended"); // no longer mapped by dom0
  });

  it("sees a go written while it waits, at its next look", async () => {
    const { hv, dom0, domU, grants, back, lines } = domains();
    const ring = grants.grantPage(dom0.domid);
    FrontRing.init([ring.page], echoSpec);
    const port = EventChannels.of(domU).bindUnbound(dom0.domid);
    const handoff = grants.grantPage(dom0.domid, { readonly: true });
    const t0 = hv.now;
    const goAt = t0 + 2.5 * GO_POLL_NS;
    hv.scheduler.at(goAt, () => {
      handoff.page.setU32(HANDOFF.ringRef, ring.ref);
      handoff.page.setU32(HANDOFF.port, port.port);
      handoff.page.setU8(HANDOFF.go, 1);
    });
    await back.connect(handoff.ref, { timeoutNs: 10 * GO_POLL_NS });
    expect(hv.now).toBe(3_000_000);
    expect(hv.now).toBeLessThanOrEqual(goAt + GO_POLL_NS);
    expect(lines).toContain(
      `backend d${dom0.domid}: saw "go": ring-ref ${ring.ref}, port ${port.port}`,
    );
    back.close();
    await hv.settle();
  });

  it("refuses a negative or non-finite timeout before mapping anything", async () => {
    const { dom0, grants, back } = domains();
    const handoff = grants.grantPage(dom0.domid, { readonly: true });
    await expect(back.connect(handoff.ref, { timeoutNs: -1 })).rejects.toThrow(RangeError);
    await expect(back.connect(handoff.ref, { timeoutNs: Number.NaN })).rejects.toThrow(RangeError);
    await expect(
      back.connect(handoff.ref, { timeoutNs: Number.POSITIVE_INFINITY }),
    ).rejects.toThrow(RangeError);
    expect(handoff.end()).toBe("ended");
  });
});
