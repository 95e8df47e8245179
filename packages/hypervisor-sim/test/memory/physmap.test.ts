import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";

function domain() {
  const hv = new Hypervisor({ mode: "manual" });
  const d = hv.createDomain({ nrPages: 16 });
  return { hv, d, pm: d.physmap };
}

describe("Physmap lookups", () => {
  it("shadows a RAM page while something is inserted over it, and shows it again after removal", () => {
    const { hv, d, pm } = domain();
    const ram5 = pm.frame(5)!;
    const ram6 = pm.frame(6)!;
    const a = hv.machine.alloc(d.domid);
    const b = hv.machine.alloc(d.domid);
    expect(pm.insert(5, a, "foreign", true)).toBeDefined();
    expect(pm.insert(6, b, "xen", true)).toBeDefined();
    expect([pm.frame(5), pm.frame(6), pm.frame(7)]).toEqual([a, b, pm.frame(7)]);
    // get_paged_frame's view: a foreign mapping is not the domain's own frame.
    expect([pm.ownFrame(5), pm.ownFrame(6)]).toEqual([undefined, b]);
    expect(pm.remove(5)).toBe(true);
    expect([pm.frame(5), pm.ownFrame(5), pm.frame(6)]).toEqual([ram5, ram5, b]);
    expect(pm.remove(6)).toBe(true);
    expect([pm.frame(6), pm.ownFrame(6)]).toEqual([ram6, ram6]);
    expect(pm.remove(6)).toBe(false);
    expect(pm.frame(6)).toBe(ram6);
  });

  it("finds non-RAM entries, nothing in holes, and counts populated RAM pages once", () => {
    const { hv, d, pm } = domain();
    const x = hv.machine.alloc(d.domid);
    expect(pm.populated).toBe(0);
    expect([pm.frame(16), pm.ownFrame(16), pm.frame(-1), pm.frame(2.5)]).toEqual([undefined, undefined, undefined, undefined]);
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
