// The per-domain memory quota of cxenstored 4.17 (quota_memory_per_domain_hard, 2.5 MiB):
// `domain_memory_add` charges a node's TDB record + path to its owner, watches (path + token),
// transaction copies and queued messages (16-byte header + payload) to the connection's domain.
// A node write that would reach the quota fails with EIO (write_node_raw turns do_tdb_write's
// refusal into EIO), and the domain's ring is not read while the quota is reached.
import { describe, expect, it } from "vitest";
import { DEFAULT_QUOTAS, type XsLocalClient, type Xenstored } from "@pvkit/toolstack";
import { expectCode, setup } from "./helpers.js";
import { messages, ringHost, run, str } from "./ring-fixture.js";
import { XS } from "@pvkit/hypervisor-sim/abi";

const HARD = 2 * 1024 * 1024 + 512 * 1024;
/** `sizeof(struct xs_tdb_record_hdr)` and `sizeof(struct xs_permissions)`. */
const HDR = 24;
const PERM = 8;

/** What a new child `name` (one perm entry, `len` value bytes) of `dir` costs dir's owner: its record and path, plus its name and NUL in the parent's child list. */
function childCost(dir: string, name: string, len: number): number {
  return HDR + PERM + len + `${dir}/${name}`.length + name.length + 1;
}

/**
 * dom0 writes 4000-byte nodes below `dir` (which `domid` owns, so the new nodes are the domain's
 * too) and then one sized so that the domain is charged exactly `target` bytes.
 */
function fillTo(
  xs: Xenstored,
  dom0: XsLocalClient,
  domid: number,
  dir: string,
  target: number,
): void {
  let mem = xs.memoryUsage(domid);
  for (let i = 0; mem + childCost(dir, `f${i}`, 4000) < target - 200; i++) {
    dom0.write(`${dir}/f${i}`, "v".repeat(4000));
    mem += childCost(dir, `f${i}`, 4000);
  }
  expect(xs.memoryUsage(domid)).toBe(mem);
  const last = target - mem - childCost(dir, "last", 0);
  dom0.write(`${dir}/last`, "v".repeat(last));
  expect(xs.memoryUsage(domid)).toBe(target);
}

describe("memory quota (quota_memory_per_domain_hard)", () => {
  it("has 2.5 MiB as its default, with the soft level at 2 MiB", () => {
    expect(DEFAULT_QUOTAS.memoryPerDomain).toBe(HARD);
    expect(DEFAULT_QUOTAS.memoryPerDomainSoft).toBe(2 * 1024 * 1024);
  });

  it("charges a node's TDB record and path length to its owner", () => {
    const { xs, dom0, domU } = setup();
    dom0.mkdir("/local/domain/3");
    dom0.setPerms("/local/domain/3", ["n3"]);
    expect(xs.memoryUsage(3)).toBe(HDR + PERM + "/local/domain/3".length);
    const u = domU(3);
    u.write("k", "12345");
    expect(xs.memoryUsage(3)).toBe(
      HDR + PERM + "/local/domain/3".length + childCost("/local/domain/3", "k", 5),
    );
    u.rm("k");
    expect(xs.memoryUsage(3)).toBe(HDR + PERM + "/local/domain/3".length);
    // A watch costs its path and token (no NULs) while it exists.
    u.watch("/local/domain/3/w", "tok");
    expect(xs.memoryUsage(3)).toBe(HDR + PERM + 15 + 17 + 3);
    u.unwatch("/local/domain/3/w", "tok");
    expect(xs.memoryUsage(3)).toBe(HDR + PERM + 15);
  });

  it("fails a write over quota_memory_per_domain_hard with EIO", () => {
    const { xs, dom0, domU } = setup();
    const home = "/local/domain/3";
    dom0.mkdir(home);
    dom0.setPerms(home, ["n3"]);
    const u = domU(3);
    // In a directory of its own: a child list this long is over the node-size quota for the domain.
    dom0.mkdir(`${home}/fill`);
    const x = childCost(home, "x", 0); // 24 + 8 + "/local/domain/3/x" + "x\0"
    fillTo(xs, dom0, 3, `${home}/fill`, HARD - x);
    // Charging x would bring the domain to the quota exactly: refused.
    expectCode(() => u.write("x", ""), "EIO");
    expectCode(() => u.read("x"), "ENOENT"); // nothing half-written
    expect(xs.memoryUsage(3)).toBe(HARD - x);
    // The quota is the owner's: dom0 gets EIO too for a node the domain would own ...
    expectCode(() => dom0.write(`${home}/y`, ""), "EIO");
    // ... but not for its own nodes.
    dom0.write("/local/domain/0/z", "");
    // A reply over 16 bytes is charged with the check too (send_reply): ENOMEM instead.
    expectCode(() => u.read("fill/last"), "ENOMEM");
    // A write that shrinks the domain's usage is fine (the old record is released first) ...
    const last = dom0.read(`${home}/fill/last`);
    dom0.write(`${home}/fill/last`, last.subarray(1));
    expect(xs.memoryUsage(3)).toBe(HARD - x - 1);
    // ... and one byte below the quota is enough for x.
    u.write("x", "");
    expect(xs.memoryUsage(3)).toBe(HARD - 1);
    expectCode(() => u.write("x", "1"), "EIO");
  });

  it("answers a watch over the quota with ENOMEM (add_watch)", () => {
    const { xs, dom0, domU } = setup({ quotas: { memoryPerDomain: 1000 } });
    dom0.mkdir("/local/domain/3");
    dom0.setPerms("/local/domain/3", ["n3"]);
    const u = domU(3);
    const used = xs.memoryUsage(3);
    // path + token reaching 1000 - used exactly is refused, one byte less is not.
    const path = "/local/domain/3/w";
    expectCode(() => u.watch(path, "t".repeat(1000 - used - path.length)), "ENOMEM");
    u.watch(path, "t".repeat(1000 - used - path.length - 1));
    expect(xs.memoryUsage(3)).toBe(999);
  });

  it("charges a transaction's node copies to the domain until the transaction ends", () => {
    const { xs, dom0, domU } = setup();
    dom0.mkdir("/local/domain/3");
    dom0.setPerms("/local/domain/3", ["n3"]);
    const u = domU(3);
    const before = xs.memoryUsage(3);
    const tx = u.transactionStart();
    u.read("/local/domain/3", tx);
    // The copy's key is `<generation>/<path>`: record + path + at least 2 bytes.
    expect(xs.memoryUsage(3)).toBe(96);
    u.transactionEnd(tx, false);
    expect(xs.memoryUsage(3)).toBe(before);
  });

  it("does not read the ring of a domain at quota_memory_per_domain_hard until it falls below", () => {
    const { hv, xs, dom0, addGuest } = ringHost();
    const g = addGuest();
    const home = `/local/domain/${g.domid}`;
    fillTo(xs, dom0, g.domid, home, HARD - 1);
    // A committing transaction charges the nodes' owners unchecked (finalize_transaction), so
    // dom0 can take the domain over its quota.
    const tx = dom0.transactionStart();
    dom0.write(`${home}/over`, "v", tx);
    dom0.transactionEnd(tx);
    expect(xs.memoryUsage(g.domid)).toBe(HARD - 1 + childCost(home, "over", 1));
    g.request(XS.XS_READ, "over\0", 5);
    run(hv);
    expect(g.transport.requestsHandled).toBe(0);
    expect(g.drain()).toHaveLength(0);
    // dom0 removes a node the domain owns: below the quota again, the ring is read.
    dom0.rm(`${home}/over`);
    run(hv);
    expect(g.transport.requestsHandled).toBe(1);
    const [reply] = messages(g.drain());
    expect([reply?.type, reply?.req_id, str(reply)]).toEqual([XS.XS_ERROR, 5, "ENOENT\0"]);
  });
});
