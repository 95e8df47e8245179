// Conformance table for the node requests: success and every error with cxenstored 4.17's name.
import { describe, expect, it } from "vitest";
import { expectCode, raw, setup, text } from "./helpers.js";
import { nulJoin, nulSplit, XS } from "@pvkit/hypervisor-sim/abi";

describe("READ", () => {
  it("returns the value bytes with no trailing NUL, echoing req_id and tx_id", () => {
    const { xs, dom0 } = setup();
    dom0.write("/a", "hello");
    const [m, extra] = raw(xs.connect(), XS.XS_READ, "/a\0", 0, 42);
    expect(extra).toBeUndefined();
    expect(m!.type).toBe(XS.XS_READ);
    expect(m!.req_id).toBe(42);
    expect(Buffer.from(m!.payload)).toEqual(Buffer.from("hello"));
  });
  it("READ: ENOENT for a missing node", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.read("/nope"), "ENOENT");
  });
  it("READ: EACCES when the caller lacks read permission", () => {
    const { dom0, domU } = setup();
    dom0.write("/secret", "x"); // inherits n0 from /
    const u = domU(3);
    expectCode(() => u.read("/secret"), "EACCES");
  });
  it("READ: EACCES, not ENOENT, for a missing node under a parent the caller cannot read", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/hidden");
    const u = domU(3);
    expectCode(() => u.read("/hidden/nothing"), "EACCES");
  });
  it("READ: ENOENT for a missing node when the nearest existing ancestor is readable", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/pub");
    dom0.setPerms("/pub", ["r0"]);
    const u = domU(3);
    expectCode(() => u.read("/pub/a/b"), "ENOENT");
  });
  it("READ: EINVAL for invalid paths", () => {
    const { dom0 } = setup();
    for (const p of ["/a/", "/a//b", "/a b", "/a.b", "/" + "x".repeat(2048)])
      expectCode(() => dom0.read(p), "EINVAL");
  });
  it("READ: EINVAL unless the payload is exactly one NUL-terminated string", () => {
    const { xs } = setup();
    const c = xs.connect();
    for (const p of ["", "/tool", "/tool\0/x\0", "/tool\0x"])
      expect(text(raw(c, XS.XS_READ, p)[0])).toBe("EINVAL\0");
  });
  it("reads a relative path under /local/domain/<domid> of the caller", () => {
    const { dom0, domU } = setup();
    const u = domU(3);
    dom0.write("/local/domain/3/name", "guest");
    dom0.setPerms("/local/domain/3", ["n3"]);
    dom0.setPerms("/local/domain/3/name", ["n3"]);
    expect(u.readString("name")).toBe("guest");
    dom0.write("/local/domain/0/name", "Domain-0");
    expect(dom0.readString("name")).toBe("Domain-0");
  });
  it("accepts a path whose part after /local/domain/<id>/ is up to 2048 bytes", () => {
    const { dom0 } = setup();
    const tail = "x".repeat(2048);
    dom0.write(`/local/domain/5/${tail}`, "v");
    expect(dom0.readString(`/local/domain/5/${tail}`)).toBe("v");
    expectCode(() => dom0.read(`/local/domain/5/${tail}y`), "EINVAL");
  });
});

describe("WRITE", () => {
  it("creates missing parents with empty values and copies the parent's permissions", () => {
    const { xs, dom0 } = setup();
    dom0.mkdir("/p");
    dom0.setPerms("/p", ["n0", "r4"]);
    dom0.write("/p/a/b/c", "v");
    expect(dom0.readString("/p/a")).toBe("");
    expect(dom0.readString("/p/a/b")).toBe("");
    expect(dom0.getPerms("/p/a/b/c")).toEqual(["n0", "r4"]);
    expect(xs.inspect("/p")!.children).toEqual(["a"]);
  });
  it("stores binary values exactly, NULs included, taking everything after the path's NUL", () => {
    const { xs } = setup();
    const c = xs.connect();
    const value = new Uint8Array([0, 1, 2, 0, 255]);
    const payload = new Uint8Array([...nulJoin(["/bin"]), ...value]);
    expect(text(raw(c, XS.XS_WRITE, payload)[0])).toBe("OK\0");
    expect(raw(c, XS.XS_READ, "/bin\0")[0]!.payload).toEqual(value);
  });
  it("makes an unprivileged creator the owner of what it creates", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/shared");
    dom0.setPerms("/shared", ["n0", "b3"]);
    const u = domU(3);
    u.write("/shared/x/y", "1");
    expect(dom0.getPerms("/shared/x")).toEqual(["n3", "b3"]);
    expect(dom0.getPerms("/shared/x/y")).toEqual(["n3", "b3"]);
  });
  it("WRITE: EACCES when the caller lacks write permission", () => {
    const { dom0, domU } = setup();
    dom0.write("/ro", "1");
    dom0.setPerms("/ro", ["r0"]);
    const u = domU(3);
    expectCode(() => u.write("/ro", "2"), "EACCES");
    expectCode(() => u.write("/ro/child", "2"), "EACCES");
    expect(dom0.readString("/ro")).toBe("1");
  });
  it("WRITE: EINVAL when the payload has no NUL", () => {
    const { xs } = setup();
    expect(text(raw(xs.connect(), XS.XS_WRITE, "/novalue")[0])).toBe("EINVAL\0");
  });
  it("bumps the node's generation on every write", () => {
    const { xs, dom0 } = setup();
    dom0.write("/g", "1");
    const g1 = xs.inspect("/g")!.generation;
    dom0.write("/g", "2");
    expect([g1, xs.inspect("/g")!.generation]).toEqual([4, 6]);
  });
});

describe("MKDIR", () => {
  it("MKDIR: OK on an existing node, keeping its value", () => {
    const { dom0 } = setup();
    dom0.write("/m", "keep");
    dom0.mkdir("/m");
    expect(dom0.readString("/m")).toBe("keep");
  });
  it("creates an empty node", () => {
    const { dom0 } = setup();
    dom0.mkdir("/m/n");
    expect(dom0.directory("/m")).toEqual(["n"]);
  });
  it("MKDIR: EACCES when the caller cannot write the nearest ancestor", () => {
    const { domU } = setup();
    const u = domU(3);
    expectCode(() => u.mkdir("/top"), "EACCES");
  });
  it("MKDIR: EINVAL for an invalid path", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.mkdir("/bad/"), "EINVAL");
  });
});

describe("RM", () => {
  it("RM: EINVAL on /", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.rm("/"), "EINVAL");
  });
  it("RM: OK for a missing node whose parent exists", () => {
    const { xs, dom0 } = setup();
    const before = xs.paths();
    const w = xs.connect();
    raw(w, XS.XS_WATCH, "/tool\0t\0"); // its reply and initial event
    const [m, extra] = raw(xs.connect(), XS.XS_RM, "/tool/nothing\0", 0, 9);
    expect(extra).toBeUndefined();
    expect([m!.type, m!.req_id, text(m)]).toEqual([XS.XS_RM, 9, "OK\0"]);
    expect(xs.paths()).toEqual(before); // nothing removed, nothing created
    expect(w.drainBytes().length).toBe(0); // no watch fired
    expect(() => dom0.rm("/tool/nothing")).not.toThrow(); // the client's rm() agrees
  });
  it("RM: ENOENT for a missing node whose parent is missing too", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.rm("/no/such"), "ENOENT");
  });
  it("removes the whole subtree and the entry in the parent", () => {
    const { xs, dom0 } = setup();
    dom0.write("/r/a/b", "1");
    dom0.write("/r/a/c", "2");
    dom0.write("/r/z", "3");
    dom0.rm("/r/a");
    expect(dom0.directory("/r")).toEqual(["z"]);
    expect(xs.paths().filter((p) => p.startsWith("/r"))).toEqual(["/r", "/r/z"]);
  });
  it("RM: EACCES when the caller lacks write permission", () => {
    const { dom0, domU } = setup();
    dom0.write("/keep", "1");
    dom0.setPerms("/keep", ["r0"]);
    const u = domU(3);
    expectCode(() => u.rm("/keep"), "EACCES");
    expect(dom0.readString("/keep")).toBe("1");
  });
  it("RM: EACCES for a missing node under a parent the caller cannot see", () => {
    const { domU } = setup();
    const u = domU(3);
    expectCode(() => u.rm("/tool/none"), "EACCES");
  });
});

describe("DIRECTORY", () => {
  it("lists children in creation order, each followed by NUL", () => {
    const { xs, dom0 } = setup();
    for (const n of ["zeta", "alpha", "mid"]) dom0.write(`/d/${n}`, "");
    expect(text(raw(xs.connect(), XS.XS_DIRECTORY, "/d\0")[0])).toBe("zeta\0alpha\0mid\0");
  });
  it("returns an empty payload for a node without children", () => {
    const { xs, dom0 } = setup();
    dom0.mkdir("/leaf");
    expect(raw(xs.connect(), XS.XS_DIRECTORY, "/leaf\0")[0]!.payload.length).toBe(0);
  });
  it("DIRECTORY: ENOENT for a missing node", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.directory("/none"), "ENOENT");
  });
  it("DIRECTORY: E2BIG when the listing exceeds 4096 bytes", () => {
    const { dom0 } = setup();
    for (let i = 0; i < 100; i++) dom0.mkdir(`/big/${"n".repeat(40)}${i}`);
    // The server's reply to DIRECTORY itself (dom0.directory() goes on with DIRECTORY_PART).
    expectCode(() => dom0.request(XS.XS_DIRECTORY, "/big\0"), "E2BIG");
  });
});

describe("DIRECTORY_PART", () => {
  it("returns the generation, the children from the offset and an end marker", () => {
    const { xs, dom0 } = setup();
    dom0.write("/dp/a", "");
    dom0.write("/dp/bb", "");
    const gen = xs.inspect("/dp")!.generation;
    expect(text(raw(xs.connect(), XS.XS_DIRECTORY_PART, "/dp\x000\0")[0])).toBe(
      `${gen}\0a\0bb\0\0`,
    );
    expect(text(raw(xs.connect(), XS.XS_DIRECTORY_PART, "/dp\x002\0")[0])).toBe(`${gen}\0bb\0\0`);
    expect(text(raw(xs.connect(), XS.XS_DIRECTORY_PART, "/dp\x009\0")[0])).toBe(`${gen}\0\0`);
  });
  it("splits a listing too big for DIRECTORY into chunks that reassemble it", () => {
    const { xs, dom0 } = setup();
    const names = Array.from({ length: 150 }, (_, i) => `child-${"q".repeat(30)}-${i}`);
    for (const n of names) dom0.mkdir(`/many/${n}`);
    const c = xs.connect();
    const got: string[] = [];
    let off = 0;
    for (let rounds = 0; rounds < 10; rounds++) {
      const m = raw(c, XS.XS_DIRECTORY_PART, `/many\0${off}\0`)[0]!;
      expect(m.type).toBe(XS.XS_DIRECTORY_PART);
      expect(m.payload.length).toBeLessThanOrEqual(4096);
      const parts = nulSplit(m.payload).slice(1);
      const done = parts[parts.length - 1] === "";
      const kids = done ? parts.slice(0, -1) : parts;
      got.push(...kids);
      off += kids.reduce((n, k) => n + k.length + 1, 0);
      if (done) break;
    }
    expect(got).toEqual(names);
  });
  it("DIRECTORY_PART: EINVAL unless there are exactly two strings", () => {
    const { xs } = setup();
    expect(text(raw(xs.connect(), XS.XS_DIRECTORY_PART, "/tool\0")[0])).toBe("EINVAL\0");
  });
  it("DIRECTORY_PART: ENOENT for a missing node", () => {
    const { xs } = setup();
    expect(text(raw(xs.connect(), XS.XS_DIRECTORY_PART, "/none\x000\0")[0])).toBe("ENOENT\0");
  });
});

describe("GET_PERMS", () => {
  it("returns each permission string followed by NUL, owner first", () => {
    const { xs, dom0 } = setup();
    dom0.mkdir("/gp");
    dom0.setPerms("/gp", ["w5", "r6", "b7", "n1"]);
    expect(text(raw(xs.connect(), XS.XS_GET_PERMS, "/gp\0")[0])).toBe("w5\0r6\0b7\0n1\0");
  });
  it("GET_PERMS: ENOENT for a missing node", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.getPerms("/none"), "ENOENT");
  });
  it("GET_PERMS: EACCES without read permission", () => {
    const { domU } = setup();
    expectCode(() => domU(3).getPerms("/tool"), "EACCES");
  });
});

describe("SET_PERMS", () => {
  it("parses domids with C base auto-detection (0x.., 0..)", () => {
    const { dom0 } = setup();
    dom0.mkdir("/sp");
    dom0.setPerms("/sp", ["n0x5", "r06", "b7"]);
    expect(dom0.getPerms("/sp")).toEqual(["n5", "r6", "b7"]);
  });
  it("SET_PERMS: EINVAL with no permission string", () => {
    const { dom0 } = setup();
    dom0.mkdir("/sp");
    expectCode(() => dom0.setPerms("/sp", []), "EINVAL");
  });
  it("SET_PERMS: EINVAL for a malformed permission string", () => {
    const { dom0 } = setup();
    dom0.mkdir("/sp");
    for (const bad of ["x0", "r", "rabc", "r1 ", "r08"])
      expectCode(() => dom0.setPerms("/sp", [bad]), "EINVAL");
  });
  it("SET_PERMS: ENOSPC for more than 5 entries from an unprivileged domain", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/own");
    dom0.setPerms("/own", ["n3"]);
    const u = domU(3);
    expectCode(() => u.setPerms("/own", ["n3", "r1", "r2", "r4", "r5", "r6"]), "ENOSPC");
    u.setPerms("/own", ["n3", "r1", "r2", "r4", "r5"]);
    dom0.setPerms("/own", ["n3", "r1", "r2", "r4", "r5", "r6", "r7"]); // dom0 is exempt
  });
  it("SET_PERMS: ENOENT when the owner names a domain that does not exist", () => {
    const { dom0 } = setup();
    dom0.mkdir("/sp");
    expectCode(() => dom0.setPerms("/sp", ["n99"]), "ENOENT");
    dom0.setPerms("/sp", ["n0", "r99"]); // a missing ACL domain is kept but ignored
    expect(dom0.getPerms("/sp")).toEqual(["n0", "r99"]);
  });
  it("SET_PERMS: EPERM when an unprivileged owner tries to change the owner", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/mine");
    dom0.setPerms("/mine", ["n3"]);
    const u = domU(3);
    expectCode(() => u.setPerms("/mine", ["n4"]), "EPERM");
    u.setPerms("/mine", ["n3", "r4"]);
    expect(dom0.getPerms("/mine")).toEqual(["n3", "r4"]);
  });
  it("SET_PERMS: EACCES for a caller with write but not owner rights", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/w");
    dom0.setPerms("/w", ["n0", "b3"]);
    const u = domU(3);
    u.write("/w", "ok");
    expectCode(() => u.setPerms("/w", ["n0"]), "EACCES");
  });
  it("SET_PERMS: ENOENT for a missing node whose ancestor grants write", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/w");
    dom0.setPerms("/w", ["n0", "w3"]);
    expectCode(() => domU(3).setPerms("/w/none", ["n3"]), "ENOENT");
  });
  it("SET_PERMS: EINVAL for an @ name other than the two special nodes", () => {
    const { dom0 } = setup();
    expectCode(() => dom0.setPerms("@other", ["n0"]), "EINVAL");
    dom0.setPerms("@releaseDomain", ["n0", "r3"]);
  });
  it("SET_PERMS: EACCES on a special node for a domain without owner rights on it", () => {
    const { domU } = setup();
    expectCode(() => domU(3).setPerms("@introduceDomain", ["n3"]), "EACCES");
  });
});

// Deliberate difference (packages/toolstack/README.md): 4.17 answers these with whatever errno
// was left over (get_node_canonicalized, set_perms_special's caller) and can abort; Xen later set
// errno = EINVAL for a missing node name. We always answer EINVAL.
describe("malformed payloads", () => {
  it("answers EINVAL, not 4.17's stale errno, for a path without its NUL, two strings to READ and SET_PERMS @bogus", () => {
    const { dom0, domU } = setup();
    dom0.mkdir("/local/domain/3");
    dom0.setPerms("/local/domain/3", ["n3"]);
    const u = domU(3);
    for (const c of [dom0.conn, u.conn]) {
      for (const type of [XS.XS_READ, XS.XS_DIRECTORY, XS.XS_GET_PERMS, XS.XS_MKDIR, XS.XS_RM]) {
        expect(text(raw(c, type, "/local/domain/3")[0])).toBe("EINVAL\0");
        expect(text(raw(c, type, "/local/domain/3\0/local/domain/3\0")[0])).toBe("EINVAL\0");
      }
      expect(text(raw(c, XS.XS_SET_PERMS, "@bogus\0n3\0")[0])).toBe("EINVAL\0");
    }
  });
});
