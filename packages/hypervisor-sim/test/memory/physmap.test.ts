import { describe, expect, it } from "vitest";
import { DeadMappingError, Hypervisor } from "@pvkit/hypervisor-sim";
import { internal } from "../internals.js";

function domain() {
  const hv = new Hypervisor({ mode: "manual" });
  const d = hv.createDomain({ nrPages: 16 });
  return { hv, d, pm: internal(d).physmap };
}

describe("Physmap lookups", () => {
  it("replaces a RAM page that something is inserted over, and leaves a hole after removal (p2m_add_page / p2m_remove_page)", () => {
    const { hv, d, pm } = domain();
    const ram5 = pm.page(5);
    const ram7 = pm.frame(7)!;
    const a = hv.machine.alloc(d.domid);
    const b = hv.machine.alloc(d.domid);
    expect(pm.insert(5, a, "foreign", true)).toBeDefined();
    expect(pm.insert(6, b, "xen", true)).toBeDefined();
    expect([pm.frame(5), pm.frame(6), pm.frame(7)]).toEqual([a, b, ram7]);
    expect(() => ram5.getU8(0)).toThrow(DeadMappingError); // the RAM page left the physmap
    // get_paged_frame's view: a foreign mapping is not the domain's own frame.
    expect([pm.ownFrame(5), pm.ownFrame(6)]).toEqual([undefined, b]);
    expect(pm.insert(5, b, "xen", true)).toBeUndefined(); // a mapping is not replaced by insert
    expect(pm.remove(5)).toBe(true);
    expect([pm.frame(5), pm.ownFrame(5), pm.isHole(5), pm.frame(6)]).toEqual([
      undefined,
      undefined,
      true,
      b,
    ]);
    expect(pm.remove(6)).toBe(true);
    expect([pm.frame(6), pm.isHole(6)]).toEqual([undefined, true]);
    expect(pm.remove(6)).toBe(false);
    expect(pm.remove(7)).toBe(true); // RAM too (guest_remove_page)
    expect([pm.frame(7), pm.isHole(7), pm.isHole(8)]).toEqual([undefined, true, false]);
  });

  it("records a Xen page's GFN as its M2P entry and forgets it when the page leaves (Frame.gpfn, gfnOf)", () => {
    const { hv, d, pm } = domain();
    const x = hv.machine.alloc(d.domid);
    expect(pm.gfnOf(pm.frame(3)!)).toBe(3);
    pm.insert(100, x, "xen", true);
    expect(pm.gfnOf(x)).toBe(100);
    pm.remove(100);
    expect(pm.gfnOf(x)).toBeUndefined();
    const ram4 = pm.frame(4)!;
    pm.insert(4, x, "grant-table", true);
    expect([pm.gfnOf(x), pm.gfnOf(ram4)]).toEqual([4, undefined]);
    // A foreign mapping of someone's frame at the same GFN number leaves that frame's M2P alone.
    const other = hv.createDomain({ nrPages: 16 });
    const theirs = internal(other).physmap.frame(9)!;
    pm.insert(9, theirs, "foreign", true);
    pm.remove(9);
    expect(internal(other).physmap.gfnOf(theirs)).toBe(9);
  });

  it("drops a RAM page from populated when free()d (guest_remove_page), not when remove()d (p2m_remove_page)", () => {
    const { hv, d, pm } = domain();
    pm.frame(1);
    pm.frame(2);
    expect(pm.populated).toBe(2);
    expect(pm.remove(1)).toBe(true);
    expect(pm.populated).toBe(2);
    expect(pm.free(2)).toBe(true);
    expect([pm.populated, pm.isHole(2)]).toEqual([1, true]);
    expect([pm.free(2), pm.free(5), pm.populated, pm.isHole(5)]).toEqual([false, true, 1, true]); // 5: never touched
    pm.insert(6, hv.machine.alloc(d.domid), "xen", true);
    expect([pm.free(6), pm.kindAt(6)]).toEqual([false, "xen"]);
  });

  it("finds non-RAM entries, nothing in holes, and counts populated RAM pages once", () => {
    const { hv, d, pm } = domain();
    const x = hv.machine.alloc(d.domid);
    expect(pm.populated).toBe(0);
    expect([pm.frame(16), pm.ownFrame(16), pm.frame(-1), pm.frame(2.5)]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    pm.insert(100, x, "foreign", false);
    expect([pm.frame(100), pm.ownFrame(100), pm.kindAt(100)]).toEqual([x, undefined, "foreign"]);
    pm.frame(3);
    pm.frame(3);
    pm.ownFrame(9);
    expect(pm.populated).toBe(2);
    pm.teardown();
    expect([pm.frame(3), pm.frame(100), pm.populated]).toEqual([undefined, undefined, 0]);
  });
});
