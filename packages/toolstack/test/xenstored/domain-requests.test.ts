// INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED, RESUME, SET_TARGET, GET_DOMAIN_PATH, and the host's
// domainDied/domainShutdown, against a fake host that records what xenstored asks of it.
import { describe, expect, it } from "vitest";
import { expectCode, raw, setup, text } from "./helpers.js";
import { XS } from "@pvkit/hypervisor-sim/abi";

describe("INTRODUCE", () => {
  it("connects the ring through the host hook with the parsed domid, mfn and evtchn", () => {
    const { xs, host, dom0 } = setup();
    dom0.introduce(5, 123456, 9);
    expect(host.calls).toEqual(["connect 5 mfn=123456 evtchn=9", "reset 5"]);
    expect(xs.isIntroduced(5)).toBe(true);
    expect(xs.domainConnection(5)!.privileged).toBe(false);
  });
  it("fires @introduceDomain to privileged watchers", () => {
    const { dom0 } = setup();
    dom0.watch("@introduceDomain", "tok");
    dom0.takeEvents();
    dom0.introduce(5, 1, 9);
    expect(dom0.takeEvents()).toEqual([{ path: "@introduceDomain", token: "tok" }]);
  });
  it("rebinds the event channel and resets the connection when the domain is introduced again", () => {
    const { xs, host, dom0, domU } = setup();
    const u = domU(5);
    u.watch("/local/domain/5", "w");
    const tx = u.transactionStart();
    host.calls.length = 0;
    dom0.watch("@introduceDomain", "i");
    dom0.takeEvents();
    dom0.introduce(5, 1, 33);
    expect(host.calls).toEqual(["rebind 5 evtchn=33", "reset 5"]);
    expect(dom0.takeEvents()).toEqual([]); // not a new introduction
    expect(xs.domainConnection(5)!.watches).toHaveLength(0);
    expectCode(() => u.read("/local/domain/5", tx), "ENOENT"); // transaction gone
  });
  it("INTRODUCE: EINVAL for an event channel of 0 or fewer than three strings", () => {
    const { xs } = setup();
    const c = xs.connect();
    expect(text(raw(c, XS.XS_INTRODUCE, "5\x001\x000\0")[0])).toBe("EINVAL\0");
    expect(text(raw(c, XS.XS_INTRODUCE, "5\x001\0")[0])).toBe("EINVAL\0");
    expect(xs.isIntroduced(5)).toBe(false);
  });
  it("INTRODUCE: the host hook's error name when the ring cannot be connected", () => {
    const { xs, host, dom0 } = setup();
    host.refuse = "ENOENT";
    expectCode(() => dom0.introduce(5, 1, 9), "ENOENT");
    expect(xs.isIntroduced(5)).toBe(false);
  });
  it("INTRODUCE: EACCES from an unprivileged domain", () => {
    const { domU } = setup();
    expectCode(() => domU(3).introduce(4, 1, 2), "EACCES");
  });
});

describe("RELEASE", () => {
  it("closes the connection, removes the domain's nodes and fires @releaseDomain", () => {
    const { xs, host, dom0, domU } = setup();
    dom0.mkdir("/local/domain/5");
    dom0.setPerms("/local/domain/5", ["n5"]);
    const u = domU(5);
    u.write("/local/domain/5/data/x", "1");
    dom0.write("/kept", "1");
    dom0.watch("@releaseDomain", "rel");
    dom0.takeEvents();
    host.calls.length = 0;
    dom0.release(5);
    expect(host.calls).toEqual(["close 5"]);
    expect(xs.isIntroduced(5)).toBe(false);
    expect(u.conn.closeReason).toBe("released");
    expect(xs.paths().some((p) => p.startsWith("/local/domain/5"))).toBe(false);
    expect(dom0.readString("/kept")).toBe("1");
    expect(dom0.takeEvents()).toEqual([{ path: "@releaseDomain", token: "rel" }]);
  });
  it("RELEASE: EINVAL for domid 0 or a malformed argument", () => {
    const { dom0, xs } = setup();
    expectCode(() => dom0.release(0), "EINVAL");
    expect(text(raw(xs.connect(), XS.XS_RELEASE, "5\x006\0")[0])).toBe("EINVAL\0");
  });
  it("RELEASE: ENOENT for a domain that is not introduced", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.release(6), "ENOENT");
  });
});

describe("IS_DOMAIN_INTRODUCED", () => {
  it("answers T for an introduced domain, dom0 and DOMID_SELF, F otherwise", () => {
    const { dom0, domU } = setup();
    domU(5);
    expect(dom0.isDomainIntroduced(5)).toBe(true);
    expect(dom0.isDomainIntroduced(0)).toBe(true);
    expect(dom0.isDomainIntroduced(0x7ff0)).toBe(true);
    expect(dom0.isDomainIntroduced(6)).toBe(false);
  });
  it("IS_DOMAIN_INTRODUCED: EINVAL without exactly one argument", () => {
    const { xs } = setup();
    expect(text(raw(xs.connect(), XS.XS_IS_DOMAIN_INTRODUCED, "")[0])).toBe("EINVAL\0");
  });
});

describe("RESUME", () => {
  it("clears the shutdown mark so a new shutdown fires @releaseDomain again", () => {
    const { xs, dom0, domU } = setup();
    domU(5);
    dom0.watch("@releaseDomain", "r");
    dom0.takeEvents();
    expect(xs.domainShutdown(5)).toBe(true);
    expect(xs.domainShutdown(5)).toBe(false);
    expect(dom0.pollEvents()).toHaveLength(1);
    dom0.request(XS.XS_RESUME, "5\0");
    expect(xs.domainShutdown(5)).toBe(true);
    expect(dom0.pollEvents()).toHaveLength(1);
  });
  it("RESUME: EINVAL for domid 0 and ENOENT for an unknown domain", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.request(XS.XS_RESUME, "0\0"), "EINVAL");
    expectCode(() => dom0.request(XS.XS_RESUME, "6\0"), "ENOENT");
  });
});

describe("SET_TARGET", () => {
  it("gives the device-model domain owner rights on its target's nodes", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/local/domain/5");
    dom0.setPerms("/local/domain/5", ["n5"]);
    const dm = domU(4);
    domU(5);
    expectCode(() => dm.read("/local/domain/5"), "EACCES");
    dom0.request(XS.XS_SET_TARGET, "4\x005\0");
    dom0.write("/local/domain/5/device-model", ""); // inherits owner 5
    dm.write("/local/domain/5/device-model", "running");
    dm.setPerms("/local/domain/5/device-model", ["n5", "r4"]);
    expect(dom0.getPerms("/local/domain/5/device-model")).toEqual(["n5", "r4"]);
    dm.write("/local/domain/5/new", "x"); // created by 4, so 4 owns it
    expect(dom0.getPerms("/local/domain/5/new")).toEqual(["n4"]);
  });
  it("SET_TARGET: ENOENT when either domain is not introduced, EINVAL for one argument", () => {
    const { dom0, domU } = setup();
    domU(4);
    expectCode(() => dom0.request(XS.XS_SET_TARGET, "4\x005\0"), "ENOENT");
    expectCode(() => dom0.request(XS.XS_SET_TARGET, "6\x004\0"), "ENOENT");
    expectCode(() => dom0.request(XS.XS_SET_TARGET, "4\0"), "EINVAL");
  });
});

describe("GET_DOMAIN_PATH", () => {
  it("answers /local/domain/<domid> for any domid, to anyone", () => {
    const { domU } = setup();
    const u = domU(3);
    expect(u.getDomainPath(42)).toBe("/local/domain/42");
    expect(u.getDomainPath(3)).toBe("/local/domain/3");
  });
  it("GET_DOMAIN_PATH: EINVAL without exactly one argument", () => {
    const { xs } = setup();
    expect(text(raw(xs.connect(), XS.XS_GET_DOMAIN_PATH, "1\x002\0")[0])).toBe("EINVAL\0");
  });
});

describe("domainDied", () => {
  it("removes every node the domain owns, with its subtree, and fires @releaseDomain", () => {
    const { xs, dom0, domU } = setup();
    dom0.mkdir("/local/domain/5");
    dom0.setPerms("/local/domain/5", ["n5"]);
    dom0.mkdir("/backend/vbd/5/0");
    dom0.setPerms("/backend/vbd/5/0", ["n0", "r5"]); // dom0-owned: stays
    const u = domU(5);
    u.write("/local/domain/5/device/vbd/768/state", "1");
    dom0.write("/local/domain/5/device/vbd/768/by-dom0", "x"); // owned by 5 (inherited), goes
    dom0.watch("@releaseDomain", "rel");
    dom0.watch("/local/domain/5", "tree");
    dom0.takeEvents();
    expect(xs.nodeCount(5)).toBe(6);
    expect(xs.domainDied(5)).toBe(true);
    expect(xs.paths().filter((p) => p.startsWith("/local/domain/5"))).toEqual([]);
    expect(xs.inspect("/backend/vbd/5/0")).toBeDefined();
    const ev = dom0.pollEvents();
    expect(ev).toContainEqual({ path: "/local/domain/5", token: "tree" });
    expect(ev[ev.length - 1]).toEqual({ path: "@releaseDomain", token: "rel" });
    expect(u.conn.closeReason).toBe("domain-died");
    expect(xs.domainDied(5)).toBe(false);
  });
  it("drops the dead domain from the special nodes' permissions, so a new domain with its id gets nothing", () => {
    const { xs, domU, dom0 } = setup();
    domU(5);
    const three = domU(3);
    domU(6);
    dom0.setPerms("@releaseDomain", ["n5", "r3"]);
    three.watch("@releaseDomain", "r");
    three.takeEvents();
    xs.domainDied(5);
    expect(three.pollEvents()).toEqual([{ path: "@releaseDomain", token: "r" }]);
    const five = domU(5); // a new domain reusing domid 5
    five.watch("@releaseDomain", "r");
    expect(five.takeEvents()).toEqual([{ path: "@releaseDomain", token: "r" }]); // the initial event only
    xs.domainDied(6);
    expect(three.pollEvents()).toHaveLength(1);
    expect(five.pollEvents()).toEqual([]);
  });
});
