// TRANSACTION_START/END: private copies, EAGAIN on conflict, abort, nesting, quotas and ids.
import { describe, expect, it } from "vitest";
import { expectCode, raw, setup, text } from "./helpers.js";
import { XS } from "@pvkit/hypervisor-sim/abi";

describe("TRANSACTION_START", () => {
  it("hands out ids per connection from 1, increasing, never reusing one still open", () => {
    const { xs, dom0 } = setup();
    expect(dom0.transactionStart()).toBe(1);
    expect(dom0.transactionStart()).toBe(2);
    dom0.transactionEnd(1, false);
    expect(dom0.transactionStart()).toBe(3);
    const other = xs.connect();
    expect(text(raw(other, XS.XS_TRANSACTION_START, "\0")[0])).toBe("1\0");
  });
  it("TRANSACTION_START: EBUSY inside a transaction (no nesting)", () => {
    const { dom0 } = setup();
    const tx = dom0.transactionStart();
    expectCode(() => dom0.request(XS.XS_TRANSACTION_START, "\0", tx), "EBUSY");
  });
  it("TRANSACTION_START: ENOENT for a tx_id naming no transaction", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.request(XS.XS_TRANSACTION_START, "\0", 5), "ENOENT");
  });
  it("TRANSACTION_START: ENOSPC for an unprivileged domain with more than 10 open (the 12th)", () => {
    const { domU, dom0 } = setup();
    const u = domU(3);
    for (let i = 0; i < 11; i++) u.transactionStart();
    expectCode(() => u.transactionStart(), "ENOSPC");
    for (let i = 0; i < 20; i++) dom0.transactionStart(); // dom0 is exempt
  });
});

describe("TRANSACTION_END", () => {
  it("TRANSACTION_END: EINVAL for an argument other than T or F, checked before the tx_id", () => {
    const { dom0 } = setup();
    const tx = dom0.transactionStart();
    for (const arg of ["X\0", "T", "TT\0", "T\0F\0", ""]) {
      expectCode(() => dom0.request(XS.XS_TRANSACTION_END, arg, tx), "EINVAL");
      expectCode(() => dom0.request(XS.XS_TRANSACTION_END, arg, 0), "EINVAL");
    }
    dom0.transactionEnd(tx, true);
  });
  it("TRANSACTION_END: ENOENT with tx_id 0 or an id already ended", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.transactionEnd(0), "ENOENT");
    const tx = dom0.transactionStart();
    dom0.transactionEnd(tx);
    expectCode(() => dom0.transactionEnd(tx), "ENOENT");
  });
  it("commits: writes become visible only at commit", () => {
    const { dom0 } = setup();
    const tx = dom0.transactionStart();
    dom0.write("/c/a", "1", tx);
    expect(dom0.readString("/c/a", tx)).toBe("1");
    expectCode(() => dom0.read("/c/a"), "ENOENT");
    dom0.transactionEnd(tx, true);
    expect(dom0.readString("/c/a")).toBe("1");
    expect(dom0.directory("/c")).toEqual(["a"]);
  });
  it("aborts with F: nothing of the transaction remains", () => {
    const { xs, dom0 } = setup();
    const before = xs.paths();
    const tx = dom0.transactionStart();
    dom0.write("/ab/x", "1", tx);
    dom0.rm("/tool", tx);
    dom0.transactionEnd(tx, false);
    expect(xs.paths()).toEqual(before);
  });
  it("reads a private snapshot: a node read once keeps its value inside the transaction", () => {
    const { dom0 } = setup();
    dom0.write("/s", "old");
    const tx = dom0.transactionStart();
    expect(dom0.readString("/s", tx)).toBe("old");
    dom0.write("/s", "new");
    expect(dom0.readString("/s", tx)).toBe("old");
  });
  it("TRANSACTION_END: EAGAIN when a node the transaction read was changed outside", () => {
    const { dom0 } = setup();
    dom0.write("/k", "1");
    const tx = dom0.transactionStart();
    dom0.readString("/k", tx);
    dom0.write("/other", "x", tx);
    dom0.write("/k", "2");
    expectCode(() => dom0.transactionEnd(tx, true), "EAGAIN");
    expectCode(() => dom0.read("/other"), "ENOENT");
    expectCode(() => dom0.transactionEnd(tx, true), "ENOENT"); // the id is gone
  });
  it("TRANSACTION_END: EAGAIN when a node the transaction read was deleted outside", () => {
    const { dom0 } = setup();
    dom0.write("/k", "1");
    const tx = dom0.transactionStart();
    dom0.readString("/k", tx);
    dom0.rm("/k");
    expectCode(() => dom0.transactionEnd(tx, true), "EAGAIN");
  });
  it("TRANSACTION_END: EAGAIN when a node the transaction found missing was created outside", () => {
    const { dom0 } = setup();
    const tx = dom0.transactionStart();
    expectCode(() => dom0.read("/late", tx), "ENOENT");
    dom0.write("/late", "1");
    expectCode(() => dom0.transactionEnd(tx, true), "EAGAIN");
  });
  it("commits when only unrelated nodes changed outside", () => {
    const { dom0 } = setup();
    dom0.write("/k", "1");
    dom0.mkdir("/p1");
    dom0.mkdir("/p2");
    const tx = dom0.transactionStart();
    dom0.readString("/k", tx);
    dom0.write("/p1/mine", "m", tx);
    dom0.write("/p2/unrelated", "u");
    dom0.transactionEnd(tx, true);
    expect(dom0.readString("/p1/mine")).toBe("m");
  });
  it("TRANSACTION_END: EAGAIN when a sibling was created outside (the parent's child list changed)", () => {
    const { dom0 } = setup();
    dom0.mkdir("/p");
    const tx = dom0.transactionStart();
    dom0.write("/p/mine", "m", tx);
    dom0.write("/p/theirs", "t");
    expectCode(() => dom0.transactionEnd(tx, true), "EAGAIN");
  });
  it("the second of two interfering transactions gets EAGAIN", () => {
    const { dom0 } = setup();
    dom0.write("/A", "a");
    dom0.write("/B", "b");
    const t1 = dom0.transactionStart();
    const t2 = dom0.transactionStart();
    dom0.readString("/A", t1);
    dom0.readString("/B", t2);
    dom0.write("/B", "1", t1);
    dom0.write("/A", "2", t2);
    dom0.transactionEnd(t1, true);
    expectCode(() => dom0.transactionEnd(t2, true), "EAGAIN");
    expect(dom0.readString("/A")).toBe("a");
    expect(dom0.readString("/B")).toBe("1");
  });
  it("removes a subtree at commit", () => {
    const { xs, dom0 } = setup();
    dom0.write("/rm/a/b", "1");
    const tx = dom0.transactionStart();
    dom0.rm("/rm/a", tx);
    expect(dom0.directory("/rm", tx)).toEqual([]);
    expect(dom0.directory("/rm")).toEqual(["a"]);
    dom0.transactionEnd(tx, true);
    expect(xs.paths().filter((p) => p.startsWith("/rm"))).toEqual(["/rm"]);
  });
  it("ENOSPC once a transaction touches more nodes than the quota, then ENOMEM at commit", () => {
    const { dom0, domU } = setup({ quotas: { transactionNodes: 4 } });
    dom0.mkdir("/q");
    dom0.setPerms("/q", ["n0", "b3"]);
    for (const n of ["a", "b", "c", "d"]) dom0.write(`/q/${n}`, n);
    const u = domU(3);
    const tx = u.transactionStart();
    for (const n of ["a", "b", "c", "d"]) u.readString(`/q/${n}`, tx);
    expectCode(() => u.read("/q", tx), "ENOSPC");
    u.readString("/q/a", tx); // already in the transaction: fine
    expectCode(() => u.transactionEnd(tx, true), "ENOMEM");
    const tx0 = dom0.transactionStart();
    for (const n of ["a", "b", "c", "d"]) dom0.readString(`/q/${n}`, tx0);
    dom0.read("/q", tx0); // dom0 is exempt
  });
  it("ENOSPC at commit when created nodes would reach the domain's node quota", () => {
    const { xs, dom0, domU } = setup({ quotas: { nodesPerDomain: 5 } });
    dom0.mkdir("/local/domain/3");
    dom0.setPerms("/local/domain/3", ["n3"]);
    const u = domU(3);
    expect(xs.nodeCount(3)).toBe(1);
    const tx = u.transactionStart();
    for (const n of ["a", "b", "c", "d"]) u.write(n, "1", tx); // count 1 + 4 = 5 >= 5
    expectCode(() => u.transactionEnd(tx, true), "ENOSPC");
    expect(xs.nodeCount(3)).toBe(1);
    const tx2 = u.transactionStart();
    for (const n of ["a", "b", "c"]) u.write(n, "1", tx2);
    u.transactionEnd(tx2, true);
    expect(xs.nodeCount(3)).toBe(4);
  });
});
