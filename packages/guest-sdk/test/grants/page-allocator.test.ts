import { describe, expect, it } from "vitest";
import { ClosedError, Hypervisor } from "@pvkit/hypervisor-sim";
import { GrantError, GuestPageAllocator, defaultAllocatorRange } from "@pvkit/guest-sdk";
import { pair, thrown } from "./helpers.js";

describe("GuestPageAllocator", () => {
  it("defaults to the upper half of RAM and hands out each page of its range once", () => {
    const hv = new Hypervisor({ mode: "manual" });
    const g = hv.guest(hv.createDomain({ nrPages: 16 }).domid);
    expect(defaultAllocatorRange(16)).toEqual({ first: 8, count: 8 });
    const alloc = new GuestPageAllocator(g.memory);
    const gfns = Array.from({ length: 8 }, () => alloc.alloc().gfn);
    expect(gfns.sort((a, b) => a - b)).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    expect(thrown(() => alloc.alloc(), GrantError).code).toBe("ERR_NO_PAGES");
    expect(alloc.allocated).toBe(8);
  });

  it("rejects a range outside RAM", () => {
    const hv = new Hypervisor({ mode: "manual" });
    const g = hv.guest(hv.createDomain({ nrPages: 16 }).domid);
    expect(() => new GuestPageAllocator(g.memory, { first: 10, count: 7 })).toThrow(RangeError);
    expect(() => new GuestPageAllocator(g.memory, { first: 4, count: 0 })).toThrow(RangeError);
  });

  it("zeroes a page before it can be granted again (XSA-403): the peer sees zeros, not the old bytes", () => {
    const { gu, alloc, client, mapper } = pair();
    const dirty = alloc.alloc();
    dirty.page.fill(0xaa);
    expect(alloc.free(dirty)).toBe("freed");
    const again = alloc.alloc();
    expect(again.gfn).toBe(dirty.gfn); // the very same frame comes back
    const ref = client.grantAccess(0, again.gfn, { readonly: true });
    const m = mapper.mapOne(ref, gu.domid, { readonly: true });
    expect(m.page.read(0, 4096)).toEqual(new Uint8Array(4096));
    m.unmap();
  });

  it("throws RangeError on a double free or a page it never handed out", () => {
    const { alloc } = pair();
    const p = alloc.alloc();
    alloc.free(p);
    expect(() => alloc.free(p)).toThrow(RangeError);
    expect(() => alloc.free(3)).toThrow(RangeError);
  });

  it("keeps a freed page that a grant still holds out of the pool until the grant is released", () => {
    const { alloc } = pair({ allocCount: 1 });
    const p = alloc.alloc();
    alloc.hold(p.gfn);
    expect(alloc.free(p)).toBe("quarantined");
    expect([alloc.available, alloc.quarantined]).toEqual([0, 1]);
    expect(thrown(() => alloc.alloc(), GrantError).message).toMatch(/1 quarantined/);
    alloc.release(p.gfn);
    expect([alloc.available, alloc.quarantined]).toEqual([1, 0]);
    expect(alloc.alloc().gfn).toBe(p.gfn);
  });

  it("refuses new allocations after close", () => {
    const { alloc } = pair();
    alloc[Symbol.dispose]();
    expect(thrown(() => alloc.alloc(), ClosedError).code).toBe("ERR_CLOSED");
  });
});
