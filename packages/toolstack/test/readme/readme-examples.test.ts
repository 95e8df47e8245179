// The xenstored and createHost examples of README.md, run from the README's own text
// (scripts/doc-blocks.ts). The Unix socket paths they name are redirected into a temporary
// directory (the test's `listenXenstored` / `createHost` wrap the real ones), so parallel runs
// cannot collide in /tmp.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as toolstack from "@pvkit/toolstack";
import type { DestroyReport, DomainHandle, Host, XsLocalClient } from "@pvkit/toolstack";
import { runExample } from "../../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README examples", () => {
  let dir = "";
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "pvkit-readme-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("xenstored: a watch's initial event, then a socket server that closes", async () => {
    const paths: string[] = [];
    const listenXenstored: typeof toolstack.listenXenstored = (xs, path, ...rest) => {
      paths.push(path);
      return toolstack.listenXenstored(xs, join(dir, "xenstored.sock"), ...rest);
    };
    const { printed, vars } = await runExample(readme, "xenstored", {
      "@pvkit/toolstack": { ...toolstack, listenXenstored },
    });
    expect(printed).toEqual([[{ path: "/local/domain/0", token: "tok" }]]);
    expect(paths).toEqual(["/tmp/pvkit-xenstored.sock"]);
    expect((vars["dom0"] as XsLocalClient).readString("/local/domain/0/name")).toBe("Domain-0");
  });

  it("createHost: the guest's main writes over its ring, and the domain is torn down as libxl does", async () => {
    const hosts: Host[] = [];
    const built: DomainHandle[] = [];
    const reports: DestroyReport[] = [];
    let hello: string | undefined;
    const createHost: typeof toolstack.createHost = async (opts) => {
      expect(opts?.socketPath).toBe("/tmp/pvkit.sock");
      const h = await toolstack.createHost({ ...opts, socketPath: join(dir, "pvkit.sock") });
      hosts.push(h);
      // Watch what the example does with the host it gets.
      const create = h.createDomain.bind(h);
      h.createDomain = async (o) => {
        const d = await create(o);
        built.push(d);
        return d;
      };
      const destroy = h.destroyDomain.bind(h);
      h.destroyDomain = async (domid, o) => {
        const c = h.openXenstore();
        hello = c.readString(`/local/domain/${domid}/data/hello`);
        c.conn.close();
        const r = await destroy(domid, o);
        reports.push(r);
        return r;
      };
      return h;
    };
    const { printed } = await runExample(readme, "host", {
      "@pvkit/toolstack": { ...toolstack, createHost },
    });
    expect(printed).toEqual([]);
    expect(built.map((d) => [d.domid, d.name])).toEqual([[1, "guest"]]);
    expect(hello).toBe("world"); // written by main over the guest's own xenstore ring
    // No blkback serves the example's vbd, so its backend never reaches Closed: libxl's wait
    // (the example's 10 s) times out and the device is removed anyway.
    expect(reports.map((r) => r.timedOut.map((t) => t.kind))).toEqual([["vbd"]]);
    expect(hosts.map((h) => h.closed)).toEqual([true]); // `await using` closed the host
  });
});
