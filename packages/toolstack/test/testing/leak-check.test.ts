// The testing entry: a fresh host per test, and teardown leak checks that catch what a driver
// or test leaves behind — and pass clean when nothing is left.
import { describe, expect, it } from "vitest";
import { GNTMAP, XEN_PAGE_SHIFT } from "@pvkit/hypervisor-sim/abi";
import { mapGrantRefs } from "@pvkit/guest-sdk/hypercall";
import type { Host } from "@pvkit/toolstack";
import {
  checkLeaks,
  createTestHost,
  LeakError,
  useHost,
  withHost,
  type Leak,
} from "@pvkit/toolstack/testing";

/** Runs `fn` in withHost and returns the leaks it reported (none if it passed). */
async function leaksOf(
  fn: (host: Host) => Promise<void> | void,
  opts = {},
): Promise<readonly Leak[]> {
  try {
    await withHost(fn, opts);
    return [];
  } catch (err) {
    if (err instanceof LeakError) return err.leaks;
    throw err;
  }
}

describe("withHost leak checks", () => {
  it("passes clean when a test destroys what it made and closes what it opened", async () => {
    const leaks = await leaksOf(async (host) => {
      const d = await host.createDomain({
        name: "tidy",
        devices: [{ kind: "vbd" }],
        main: async ({ xenbus }) => xenbus.write("data/x", "1"),
      });
      await d.done;
      const c = host.openXenstore();
      c.watch("/local/domain", "w");
      c.unwatch("/local/domain", "w");
      const port = host.dom0.events.bindUnbound(d.domid);
      port.close();
      await d.destroy({ timeoutNs: 0 });
    });
    expect(leaks).toEqual([]);
  });

  it("destroys domains the test left running without calling that a leak", async () => {
    const t = await createTestHost();
    const d = await t.host.createDomain({ name: "left", devices: [{ kind: "vbd" }] });
    const report = await checkLeaks(t.host, { teardownTimeoutNs: 1000 });
    expect(report.leaks).toEqual([]);
    expect(report.destroyedAtTeardown).toEqual([d.domid]);
    expect(report.teardownTimeouts).toEqual([`d${d.domid} vbd/51712`]);
    await t.host.close();
    // Not t.finish() (this test checks checkLeaks alone), so detach the sanitizer by hand: its
    // listener on the process-wide driverInspect registry would outlive the file otherwise.
    t.sanitizer?.close();
  });

  it("reports domains left running when requireDestroyed is set", async () => {
    const leaks = await leaksOf(
      async (host) => void (await host.createDomain({ name: "forgotten" })),
      { requireDestroyed: true },
    );
    expect(leaks).toEqual([{ kind: "domain-running", message: "d1 (forgotten) was left running" }]);
  });

  it("catches an event channel left bound in dom0", async () => {
    const leaks = await leaksOf(async (host) => {
      const d = await host.createDomain({ name: "peer" });
      host.dom0.events.bindUnbound(d.domid); // never closed
    });
    expect(leaks.map((l) => l.kind)).toEqual(["dom0-port"]);
    // The peer is gone by then, so the port is still UNBOUND for the dead domain.
    expect(leaks[0]!.message).toMatch(/^dom0 port \d+ \(UNBOUND for d1\) left bound$/);
  });

  it("catches a watch and a transaction left open on a dom0 client", async () => {
    const leaks = await leaksOf((host) => {
      const c = host.openXenstore();
      c.watch("/local/domain", "forgotten-token");
      c.transactionStart();
    });
    expect(leaks).toEqual([
      {
        kind: "xenstore-watch",
        message: 'client #1 (local) still watches /local/domain (token "forgotten-token")',
      },
      { kind: "xenstore-transaction", message: "client #1 (local) left transaction 1 open" },
    ]);
  });

  it("catches a grant mapping dom0 still holds, and the domain it keeps alive", async () => {
    const leaks = await leaksOf(async (host) => {
      const d = await host.createDomain({ name: "mapped" });
      const gfn = 0x30000;
      mapGrantRefs(host.dom0.guest.hypercall, [
        { host_addr: gfn << XEN_PAGE_SHIFT, flags: GNTMAP.GNTMAP_host_map, ref: 0, dom: d.domid },
      ]);
    });
    expect(leaks.map((l) => l.kind).sort()).toEqual(["dom0-grant-mapping", "domain-lingering"]);
    // Handle 2: xenconsoled's own map of ref 0 took handle 1 (and ended with the domain).
    expect(leaks.find((l) => l.kind === "dom0-grant-mapping")!.message).toBe(
      "dom0 still maps grant ref 0 of d1 (handle 2, gfn 0x30000)",
    );
    expect(leaks.find((l) => l.kind === "domain-lingering")!.message).toBe(
      "d1 (mapped) is still dying: 1 of its grants still mapped by other domains",
    );
  });

  it("catches nodes a backend writes after the toolstack removed the device", async () => {
    const leaks = await leaksOf(async (host) => {
      const d = await host.createDomain({ name: "late", devices: [{ kind: "vbd" }] });
      const c = host.openXenstore();
      await d.destroy({ timeoutNs: 0 });
      // A buggy backend acknowledging late recreates its directory for a dead frontend.
      c.write(`/local/domain/0/backend/vbd/${d.domid}/51712/state`, "6");
      c.conn.close();
    });
    expect(leaks).toEqual([
      {
        kind: "xenstore-node",
        message: "/local/domain/0/backend/vbd/1 left behind (with its subtree)",
      },
    ]);
  });

  it("catches a guest crash nobody looked at", async () => {
    const leaks = await leaksOf(async (host) => {
      await host.createDomain({
        name: "silent",
        main: () => {
          throw new Error("unnoticed");
        },
      });
      await new Promise<void>((r) => setImmediate(r));
    });
    expect(leaks).toEqual([
      {
        kind: "crash-unobserved",
        message: "d1 (silent) crashed and nobody awaited done: Error: unnoticed",
      },
    ]);
  });

  it("fails the teardown when an events$ subscriber in dom0 threw (rxjs alone would rethrow it on a real timer, after the test)", async () => {
    const leaks = await leaksOf((host) => {
      const ipi = host.dom0.events.bindIpi(0);
      ipi.events$.subscribe(() => {
        throw new Error("backend bug");
      });
      ipi.notify();
      host.hv.runUntilIdle();
      ipi.close();
    });
    expect(leaks).toEqual([
      {
        kind: "dom0-handler-error",
        message: expect.stringMatching(
          /^dom0's handler of port \d+ \(vcpu 0\) threw: Error: backend bug$/,
        ),
      },
    ]);
  });

  it("lets the test's own error win over leaks, and still closes the host", async () => {
    let h: Host | undefined;
    await expect(
      withHost((host) => {
        h = host;
        host.openXenstore().watch("/", "leak");
        throw new Error("test failed first");
      }),
    ).rejects.toThrow("test failed first");
    expect(h!.closed).toBe(true);
  });

  it("formats every leak in the error message", async () => {
    const err = await withHost((host) => void host.openXenstore().watch("/", "t")).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LeakError);
    expect((err as LeakError).code).toBe("ERR_LEAK");
    expect((err as Error).message).toBe(
      'pvkit leak check: 1 leak\n  - [xenstore-watch] client #1 (local) still watches / (token "t")',
    );
  });
});

describe("useHost", () => {
  const host = useHost();
  let first: Host | undefined;

  it("gives each test a fresh host", async () => {
    first = host();
    const d = await host().createDomain({ name: "one" });
    expect(d.domid).toBe(1);
  });

  it("gives the next test another one (the previous one was torn down and closed)", async () => {
    expect(host()).not.toBe(first);
    expect(first!.closed).toBe(true);
    const d = await host().createDomain({ name: "one" });
    expect(d.domid).toBe(1);
  });
});

describe("manual mode", () => {
  it("drives the scheduler itself to tear down what is left", async () => {
    const leaks = await leaksOf(
      async (host) => {
        await host.createDomain({ name: "m", devices: [{ kind: "vbd" }] });
      },
      { mode: "manual" },
    );
    expect(leaks).toEqual([]);
  });
});
