// Mirrors the Grants example of the package README, with its printed values as assertions.
import { expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { GrantMapper, GrantTableClient, GuestPageAllocator } from "@pvkit/guest-sdk";

it("runs the README grants example as documented", () => {
  const hv = new Hypervisor({ mode: "manual" });
  const dom0 = hv.guest(hv.createDomain().domid);
  const domU = hv.guest(hv.createDomain({ nrPages: 64 }).domid);

  const alloc = new GuestPageAllocator(domU.memory);
  expect([alloc.first, alloc.first + alloc.count - 1]).toEqual([32, 63]);
  const grants = GrantTableClient.of(domU, { allocator: alloc });
  const shared = grants.grantPage(dom0.domid);
  expect(shared.ref).toBe(8);
  shared.page.write(0, new TextEncoder().encode("hi"));

  const mapper = new GrantMapper(dom0);
  const m = mapper.mapOne(shared.ref, domU.domid);
  expect(new TextDecoder().decode(m.page.read(0, 2))).toBe("hi");

  expect(shared.end()).toBe("deferred");
  expect(alloc.quarantined).toBe(1);
  m.unmap();
  expect(grants.retryDeferred()).toBe(1);

  dom0.memory.writablePage(5).setU32(0, 0xc0ffee);
  const p = alloc.alloc();
  mapper.copy([{ from: { gfn: 5 }, to: { ref: grants.grantAccess(0, p.gfn), domid: domU.domid }, length: 64 }]);
  expect(p.page.getU32(0)).toBe(0xc0ffee);
});
