// Watches (WATCH/UNWATCH/RESET_WATCHES) and event delivery: matching, relative paths, removal
// rules, the XSA-115 permission filter, special events, deduplication and transactions.
import { describe, expect, it } from "vitest";
import { decodeWatchEvent } from "@pvkit/toolstack";
import { expectCode, raw, setup, text } from "./helpers.js";
import { XS } from "@pvkit/hypervisor-sim/abi";

describe("WATCH and UNWATCH", () => {
  it("replies OK, then fires one event for the watched path even if it does not exist", () => {
    const { xs } = setup();
    const msgs = raw(xs.connect(), XS.XS_WATCH, "/not/there\0tok\0", 0, 3);
    expect(msgs.map((m) => [m.type, m.req_id, m.tx_id])).toEqual([
      [XS.XS_WATCH, 3, 0],
      [XS.XS_WATCH_EVENT, 0, 0],
    ]);
    expect(text(msgs[0])).toBe("OK\0");
    expect(text(msgs[1])).toBe("/not/there\0tok\0");
  });
  it("WATCH: EINVAL unless there are exactly two strings", () => {
    const { xs } = setup();
    const c = xs.connect();
    expect(text(raw(c, XS.XS_WATCH, "/a\0")[0])).toBe("EINVAL\0");
    expect(text(raw(c, XS.XS_WATCH, "/a\0t\0x\0")[0])).toBe("EINVAL\0");
  });
  it("WATCH: EINVAL for an invalid path or an @ name over 2048 bytes", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.watch("/a/", "t"), "EINVAL");
    expectCode(() => dom0.watch("@" + "x".repeat(2048), "t"), "EINVAL");
    dom0.watch("@" + "x".repeat(2047), "t");
  });
  it("WATCH: EEXIST for the same path and token twice; another token is fine", () => {
    const { dom0 } = setup();
    dom0.watch("/a", "t");
    expectCode(() => dom0.watch("/a", "t"), "EEXIST");
    dom0.watch("/a", "u");
  });
  it("WATCH: E2BIG for an unprivileged domain's 130th watch (the check is count > 128)", () => {
    const { domU, dom0 } = setup();
    const u = domU(3);
    for (let i = 0; i < 129; i++) u.watch(`/w${i}`, "t");
    expectCode(() => u.watch("/w129", "t"), "E2BIG");
    for (let i = 0; i < 200; i++) dom0.watch(`/w${i}`, "t"); // dom0 is exempt
  });
  it("UNWATCH: ENOENT for a pair that is not registered, and no events after a removal", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.unwatch("/a", "t"), "ENOENT");
    dom0.watch("/a", "t");
    dom0.unwatch("/a", "t");
    dom0.takeEvents();
    dom0.write("/a", "1");
    expect(dom0.takeEvents()).toEqual([]);
    expectCode(() => dom0.unwatch("/a", "t"), "ENOENT");
  });
  it("UNWATCH: EINVAL unless there are exactly two strings", () => {
    const { xs } = setup();
    expect(text(raw(xs.connect(), XS.XS_UNWATCH, "/a\0")[0])).toBe("EINVAL\0");
  });
  it("RESET_WATCHES drops every watch and every transaction of the caller", () => {
    const { dom0 } = setup();
    dom0.watch("/a", "t");
    const tx = dom0.transactionStart();
    dom0.request(XS.XS_RESET_WATCHES, "");
    dom0.takeEvents();
    dom0.write("/a", "1");
    expect(dom0.takeEvents()).toEqual([]);
    expectCode(() => dom0.read("/tool", tx), "ENOENT");
  });
});

describe("event matching", () => {
  it("fires watches on the path and on every ancestor, not on descendants", () => {
    const { dom0 } = setup();
    for (const p of ["/", "/a", "/a/b", "/a/b/c", "/a/b/c/d", "/ab"]) dom0.watch(p, p);
    dom0.takeEvents();
    dom0.write("/a/b/c", "x");
    expect(dom0.takeEvents().map((e) => e.token)).toEqual(["/", "/a", "/a/b", "/a/b/c"]);
  });
  it("reports paths relative to the domain's home for a watch registered relatively", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/local/domain/3");
    dom0.setPerms("/local/domain/3", ["n3"]);
    const u = domU(3);
    u.watch("device", "rel");
    u.watch("/local/domain/3/device", "abs");
    expect(u.takeEvents()).toEqual([
      { path: "device", token: "rel" },
      { path: "/local/domain/3/device", token: "abs" },
    ]);
    dom0.write("/local/domain/3/device/vif/0", "1");
    expect(u.pollEvents()).toEqual([
      { path: "device/vif/0", token: "rel" },
      { path: "/local/domain/3/device/vif/0", token: "abs" },
    ]);
    u.unwatch("device", "rel");
  });
  it("queues a writer's own watch event before the reply to its write", () => {
    const { xs } = setup();
    const c = xs.connect();
    raw(c, XS.XS_WATCH, "/a\0t\0");
    const out = raw(c, XS.XS_WRITE, "/a\0v");
    expect(out.map((m) => m.type)).toEqual([XS.XS_WATCH_EVENT, XS.XS_WRITE]);
  });
  it("drops an event whose payload would exceed 4096 bytes", () => {
    const { dom0 } = setup();
    dom0.watch("/", "t".repeat(3000));
    dom0.takeEvents();
    dom0.write("/" + "p".repeat(1100), "x"); // 1101 + 3000 + 2 NULs > 4096
    expect(dom0.takeEvents()).toEqual([]);
    dom0.write("/short", "x");
    expect(dom0.takeEvents()).toHaveLength(1);
  });
  it("does not fire for MKDIR of an existing node, nor for an RM of nothing", () => {
    const { dom0 } = setup();
    dom0.mkdir("/m");
    dom0.watch("/m", "t");
    dom0.takeEvents();
    dom0.mkdir("/m");
    dom0.rm("/m/none");
    expect(dom0.takeEvents()).toEqual([]);
  });
});

describe("removal events", () => {
  it("fires the removed root like a write, and each removed descendant only for watches on exactly it", () => {
    const { dom0 } = setup();
    dom0.write("/r/a/b/c", "1");
    for (const p of ["/r", "/r/a", "/r/a/b", "/r/a/b/c", "/r/a/b/c/d"]) dom0.watch(p, p);
    dom0.takeEvents();
    dom0.rm("/r/a");
    // Children go first (post-order); the root fires last.
    expect(dom0.takeEvents()).toEqual([
      { path: "/r/a/b/c", token: "/r/a/b/c" },
      { path: "/r/a/b", token: "/r/a/b" },
      { path: "/r/a", token: "/r" },
      { path: "/r/a", token: "/r/a" },
    ]);
  });
});

describe("permission filter (XSA-115)", () => {
  it("sends an event only to watchers that can read the node or its parent", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/open");
    dom0.setPerms("/open", ["r0"]);
    dom0.mkdir("/closed");
    const u = domU(3);
    u.watch("/", "all");
    u.takeEvents();
    dom0.write("/closed/x", "1"); // node n0, parent n0: hidden
    expect(u.pollEvents()).toEqual([]);
    dom0.write("/open/x", "1"); // node inherits r0: visible
    expect(u.pollEvents()).toEqual([{ path: "/open/x", token: "all" }]);
    dom0.write("/open/y", "1");
    expect(u.pollEvents()).toEqual([{ path: "/open/y", token: "all" }]);
    dom0.setPerms("/open/y", ["n0"]); // node hidden but old perms readable: visible
    expect(u.pollEvents()).toEqual([{ path: "/open/y", token: "all" }]);
    dom0.write("/open/y", "2"); // node n0, parent r0: visible through the parent
    expect(u.pollEvents()).toEqual([{ path: "/open/y", token: "all" }]);
    dom0.write("/open/y/z", "3"); // node n0, parent n0: hidden
    expect(u.pollEvents()).toEqual([]);
  });
});

describe("special events", () => {
  it("match only watches on exactly @introduceDomain / @releaseDomain", () => {
    const { xs, dom0, domU } = setup();
    dom0.watch("/", "root");
    dom0.watch("@releaseDomain/5", "newer-form");
    dom0.watch("@releaseDomain", "rel");
    dom0.watch("@introduceDomain", "intro");
    dom0.takeEvents();
    domU(5);
    expect(dom0.pollEvents()).toEqual([{ path: "@introduceDomain", token: "intro" }]);
    xs.domainDied(5);
    expect(dom0.pollEvents()).toEqual([{ path: "@releaseDomain", token: "rel" }]);
  });
  it("reach an unprivileged domain only when the special node's permissions let it read", () => {
    const { dom0, domU } = setup();
    const u = domU(3);
    u.watch("@introduceDomain", "i");
    u.takeEvents();
    domU(4);
    expect(u.pollEvents()).toEqual([]);
    dom0.setPerms("@introduceDomain", ["n0", "r3"]);
    domU(5);
    expect(u.pollEvents()).toEqual([{ path: "@introduceDomain", token: "i" }]);
  });
  it("are not deduplicated", () => {
    const { xs, dom0, domU } = setup();
    domU(4);
    domU(5);
    dom0.watch("@releaseDomain", "r");
    dom0.takeEvents();
    xs.domainShutdown(4);
    xs.domainShutdown(5);
    expect(dom0.conn.pending.filter((m) => m.type === XS.XS_WATCH_EVENT)).toHaveLength(2);
  });
});

describe("deduplication", () => {
  it("drops an event identical to one still queued, not one already taken", () => {
    const { xs, dom0 } = setup();
    const w = xs.connect();
    raw(w, XS.XS_WATCH, "/d\0t\0");
    dom0.write("/d", "1");
    dom0.write("/d", "2");
    dom0.write("/d/x", "3");
    const queued = w.takeAll().map((m) => decodeWatchEvent(m.payload).path);
    expect(queued).toEqual(["/d", "/d/x"]);
    dom0.write("/d", "4");
    expect(w.takeAll()).toHaveLength(1);
  });
});

describe("events in transactions", () => {
  it("are queued until commit and fire in order of first access", () => {
    const { dom0 } = setup();
    dom0.watch("/t", "t");
    dom0.takeEvents();
    const tx = dom0.transactionStart();
    dom0.write("/t/b", "1", tx);
    dom0.write("/t/a", "1", tx);
    expect(dom0.pollEvents()).toEqual([]);
    dom0.transactionEnd(tx, true);
    expect(dom0.takeEvents().map((e) => e.path)).toEqual(["/t/b", "/t/a"]);
  });
  it("are dropped when the transaction is aborted", () => {
    const { dom0 } = setup();
    dom0.watch("/t", "t");
    dom0.takeEvents();
    const tx = dom0.transactionStart();
    dom0.write("/t/a", "1", tx);
    dom0.transactionEnd(tx, false);
    expect(dom0.pollEvents()).toEqual([]);
    expectCode(() => dom0.read("/t/a"), "ENOENT");
  });
  it("are dropped when the commit fails with EAGAIN", () => {
    const { dom0, xs } = setup();
    dom0.write("/t/a", "0");
    const other = xs.connect();
    raw(other, XS.XS_WATCH, "/t\0o\0");
    const tx = dom0.transactionStart();
    dom0.write("/t/a", "1", tx);
    dom0.write("/t/a", "outside"); // conflicts
    other.takeAll();
    expectCode(() => dom0.transactionEnd(tx, true), "EAGAIN");
    expect(other.takeAll()).toEqual([]);
  });
});
