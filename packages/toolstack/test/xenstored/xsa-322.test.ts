// XSA-322: an ACL entry naming a domain created after the node was last written is ignored, so a
// new domain reusing a domid does not inherit an old domain's rights.
import { describe, expect, it } from "vitest";
import { expectCode, setup } from "./helpers.js";

describe("stale ACL entries (XSA-322)", () => {
  it("lets a domain use an entry written for it before its introduction (the libxl order)", () => {
    const { dom0, domU } = setup();
    dom0.write("/vm/5/config", "c");
    dom0.setPerms("/vm/5/config", ["n0", "r5"]);
    const u = domU(5);
    expect(u.readString("/vm/5/config")).toBe("c");
  });
  it("ignores the entry for a new domain with the id of a dead one", () => {
    const { xs, host, dom0, domU } = setup();
    domU(5);
    dom0.write("/vm/5/config", "c");
    dom0.setPerms("/vm/5/config", ["n0", "r5"]);
    xs.domainDied(5);
    host.live.delete(5);
    host.live.add(5); // the hypervisor reuses domid 5
    dom0.write("/vm/5/name", "new"); // the toolstack builds the new domain's nodes
    const fresh = domU(5);
    expectCode(() => fresh.read("/vm/5/config"), "EACCES");
    expect(dom0.getPerms("/vm/5/config")).toEqual(["n0", "r5"]); // still listed, just ignored
    dom0.setPerms("/vm/5/config", ["n0", "r5"]); // rewriting the entry grants it again
    expect(fresh.readString("/vm/5/config")).toBe("c");
  });
  it("ignores an entry naming a domain the hypervisor does not have", () => {
    const { host, dom0, domU } = setup();
    host.live.delete(6);
    dom0.write("/x", "1");
    dom0.setPerms("/x", ["n0", "r6"]);
    host.live.add(6);
    dom0.write("/vm/6/name", "six");
    expectCode(() => domU(6).read("/x"), "EACCES");
  });
});
