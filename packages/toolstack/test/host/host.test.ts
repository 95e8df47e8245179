// The host's own lifecycle: boot, the xenstored socket, close() and async disposal.
import { createConnection } from "node:net";
import { mkdtempSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeXsMessages, encodeXsMessage, VIRQ, XS } from "@pvkit/hypervisor-sim/abi";
import { evtchnStatus } from "@pvkit/guest-sdk/hypercall";
import { ClosedError } from "@pvkit/hypervisor-sim";
import { createHost } from "@pvkit/toolstack";
import { inspectDomain } from "@pvkit/hypervisor-sim/inspect";

describe("createHost", () => {
  it("boots dom0 privileged, with xenstored and VIRQ_DOM_EXC bound", async () => {
    const host = await createHost();
    const dom0 = host.hv.domainById(0)!;
    expect(dom0.isPrivileged).toBe(true);
    const [port] = host.inventory().ownDom0Ports;
    expect(evtchnStatus(host.dom0.guest.hypercall, port!)).toMatchObject({
      state: "virq",
      virq: VIRQ.VIRQ_DOM_EXC,
    });
    expect(host.xenstored.isIntroduced(0)).toBe(true);
    await host.close();
  });

  it("serves dom0 tools on a Unix socket when asked, and removes it on close", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pvkit-host-"));
    const path = join(dir, "socket");
    const host = await createHost({ socketPath: path });
    const d = await host.createDomain({ name: "over-socket" });
    const reply = await new Promise<string>((resolve, reject) => {
      const s = createConnection(path);
      s.on("error", reject);
      s.on("data", (b) => {
        const [m] = decodeXsMessages(new Uint8Array(b));
        resolve(Buffer.from(m!.payload).toString("latin1"));
        s.end();
      });
      s.write(
        encodeXsMessage({
          type: XS.XS_READ,
          req_id: 0,
          tx_id: 0,
          payload: Buffer.from(`/local/domain/${d.domid}/name\0`),
        }),
      );
    });
    expect(reply).toBe("over-socket");
    expect(host.socketPath).toBe(path);
    await host.close();
    expect(existsSync(path)).toBe(false);
    rmSync(dir, { recursive: true });
  });

  it("closes idempotently: domains destroyed and released, dom0's channels closed, later calls refused", async () => {
    const host = await createHost({ mode: "manual" });
    const d = await host.createDomain({ name: "x", devices: [{ kind: "vbd" }] });
    const p1 = host.close();
    expect(host.close()).toBe(p1);
    await p1;
    expect(host.hv.domainById(d.domid)).toBeUndefined();
    expect(host.xenstored.paths().filter((p) => p.includes(`/${d.domid}`))).toEqual([]);
    expect(inspectDomain(host.hv, 0)!.evtchn.bound).toBe(0);
    expect(() => host.openXenstore()).toThrow(ClosedError);
    await expect(host.createDomain({ name: "y" })).rejects.toMatchObject({
      code: "ERR_CLOSED",
      what: "the host",
      op: "createDomain",
    });
  });

  it("is an async disposable", async () => {
    let h: Awaited<ReturnType<typeof createHost>> | undefined;
    {
      await using host = await createHost();
      h = host;
      await host.createDomain({ name: "scoped" });
    }
    expect(h.closed).toBe(true);
    expect(h.hv.domains.map((d) => d.domid)).toEqual([0]);
  });

  it("numbers domains from 1 and gives each a distinct uuid", async () => {
    const host = await createHost();
    const a = await host.createDomain({ name: "a" });
    const b = await host.createDomain({ name: "b" });
    expect([a.domid, b.domid]).toEqual([1, 2]);
    expect(a.uuid).not.toBe(b.uuid);
    expect(host.domains.map((d) => d.name)).toEqual(["a", "b"]);
    await host.close();
  });
});
