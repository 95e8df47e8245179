// Quotas with cxenstored 4.17 defaults: each hit gives its own error; dom0 is exempt.
import { describe, expect, it } from "vitest";
import { DEFAULT_QUOTAS, Xenstored } from "@pvkit/toolstack";
import { expectCode, setup } from "./helpers.js";
import { XS } from "@pvkit/hypervisor-sim/abi";

function homeFor(dom0: ReturnType<typeof setup>["dom0"], domid: number) {
  dom0.mkdir(`/local/domain/${domid}`);
  dom0.setPerms(`/local/domain/${domid}`, [`n${domid}`]);
}

describe("quotas", () => {
  it("has cxenstored 4.17's defaults", () => {
    expect(DEFAULT_QUOTAS).toEqual({
      nodesPerDomain: 1000,
      nodeSize: 2048,
      watchesPerDomain: 128,
      transactionsPerDomain: 10,
      permsPerNode: 5,
      pathMax: 2048,
      transactionNodes: 1024,
      outstandingPerDomain: 20,
      memoryPerDomain: 2621440, // quota_memory_per_domain_hard: 2 MiB + 512 KiB
      memoryPerDomainSoft: 2097152, // quota_memory_per_domain_soft: 2 MiB
    });
  });
  it("ENOSPC when an unprivileged domain would own more than 1000 nodes", () => {
    const { xs, dom0, domU } = setup();
    homeFor(dom0, 3);
    const u = domU(3);
    // Spread over 40 directories so no child list reaches the node-size quota.
    for (let i = 0; xs.nodeCount(3) < 1000; i++) u.write(`g${i % 40}/n${i}`, "");
    expectCode(() => u.write("one-more", ""), "ENOSPC");
    expectCode(() => u.mkdir("g0/one-more"), "ENOSPC");
    u.write("g0/n0", "rewriting an existing node is fine");
    u.rm("g0/n0");
    u.write("one-more", "");
    expect(xs.nodeCount(3)).toBe(1000);
  });
  it("counts nodes for their owner, so dom0 is not limited", () => {
    const { xs, dom0 } = setup({ quotas: { nodesPerDomain: 3 } });
    for (let i = 0; i < 10; i++) dom0.write(`/d0/${i}`, "");
    expect(xs.nodeCount(0)).toBe(14);
  });
  it("ENOSPC when an unprivileged write makes a node record reach 2048 bytes", () => {
    const { dom0, domU } = setup();
    homeFor(dom0, 3);
    const u = domU(3);
    // Record = 24-byte header + 8 per permission + value + child names.
    u.write("v", "x".repeat(2048 - 24 - 8 - 1));
    expectCode(() => u.write("v", "x".repeat(2048 - 24 - 8)), "ENOSPC");
    dom0.write("/local/domain/3/v", "x".repeat(4000)); // dom0 is exempt
  });
  it("ENOSPC when a new child name would push the parent's record to 2048 bytes", () => {
    const { dom0, domU } = setup();
    homeFor(dom0, 3);
    const u = domU(3);
    u.write("p", "x".repeat(2048 - 24 - 8 - 1 - 3)); // room for one 1-char child ("a\0")
    u.write("p/a", "");
    expectCode(() => u.write("p/b", ""), "ENOSPC");
    expectCode(() => u.read("p/b"), "ENOENT"); // nothing half-created
  });
  it("EINVAL for a path longer than the path-max quota", () => {
    const { dom0 } = setup({ quotas: { pathMax: 10 } });
    dom0.write("/123456789", "");
    expectCode(() => dom0.write("/1234567890", ""), "EINVAL");
  });
  it("applies overrides and caps pathMax at 2048", () => {
    const xs = new Xenstored({ quotas: { watchesPerDomain: 2, pathMax: 9999 } });
    expect(xs.quotas.watchesPerDomain).toBe(2);
    expect(xs.quotas.pathMax).toBe(2048);
    expect(() => new Xenstored({ quotas: { nodeSize: 0 } })).toThrow(RangeError);
  });
  it("CONTROL quota set changes a quota; CONTROL: EINVAL for an unknown command or value", () => {
    const { xs, dom0, domU } = setup();
    dom0.request(XS.XS_CONTROL, "quota\0set\0watches\x001\0");
    expect(xs.quotas.watchesPerDomain).toBe(1);
    const u = domU(3);
    u.watch("/a", "1");
    u.watch("/b", "2");
    expectCode(() => u.watch("/c", "3"), "E2BIG");
    expectCode(() => dom0.request(XS.XS_CONTROL, "quota\0set\0watches\x000\0"), "EINVAL");
    expectCode(() => dom0.request(XS.XS_CONTROL, "quota\0set\0bogus\x005\0"), "EINVAL");
    expectCode(() => dom0.request(XS.XS_CONTROL, "nonsense\0"), "EINVAL");
    expectCode(() => dom0.request(XS.XS_CONTROL, ""), "EINVAL");
    const shown = Buffer.from(dom0.request(XS.XS_CONTROL, "quota\0")).toString();
    expect(shown).toContain("watches          :        1 Watches per domain");
    const mine = Buffer.from(dom0.request(XS.XS_CONTROL, "quota\x003\0")).toString();
    expect(mine).toContain("watches         :        2");
    expectCode(() => dom0.request(XS.XS_CONTROL, "quota\x009\0"), "ENOENT");
  });
});
