// A guest's `main`: what it is given, its xenbus client over the real ring, and crash isolation.
import { firstValueFrom } from "rxjs";
import { take, toArray } from "rxjs/operators";
import { describe, expect, it } from "vitest";
import { SHUTDOWN } from "@pvkit/hypervisor-sim/abi";
import type { DomainCrash, GuestContext } from "@pvkit/toolstack";
import { useHost, withHost } from "@pvkit/toolstack/testing";
import { watcher } from "./helpers.js";

describe("guest main", () => {
  const host = useHost();

  it("gives main a xenbus client that reaches xenstored through the ring start_info names", async () => {
    const d = await host().createDomain({
      name: "chatty",
      main: async ({ xenbus, domid }) => {
        expect(await xenbus.read("name")).toBe("chatty");
        expect(await xenbus.read("domid")).toBe(String(domid));
        await xenbus.write("data/greeting", "hello from the guest");
      },
    });
    await d.done;
    const c = host().openXenstore();
    expect(c.readString(`/local/domain/${d.domid}/data/greeting`)).toBe("hello from the guest");
    // The guest owns what it created under data/ (cxenstored gives creators ownership).
    expect(c.getPerms(`/local/domain/${d.domid}/data/greeting`)).toEqual([`n${d.domid}`]);
    expect(host().inventory().transports.get(d.domid)!.requestsHandled).toBe(3);
    c.conn.close();
  });

  it("enforces libxl's permissions on the guest: data is writable, name is not, dom0's private nodes are hidden", async () => {
    const c = host().openXenstore();
    c.write("/tool/secret", "s3cret");
    let outcome: string[] = [];
    const d = await host().createDomain({
      name: "perms",
      main: async ({ xenbus }) => {
        const code = (p: Promise<unknown>): Promise<string> =>
          p.then(
            () => "ok",
            (e: { code?: string }) => e.code ?? "?",
          );
        outcome = [
          await code(xenbus.write("data/x", "1")),
          await code(xenbus.write("control/shutdown", "")),
          await code(xenbus.write("name", "renamed")),
          await code(xenbus.write("memory/target", "1")),
          await code(xenbus.read("/tool/secret")),
        ];
      },
    });
    await d.done;
    expect(outcome).toEqual(["ok", "ok", "EACCES", "EACCES", "EACCES"]);
    expect(c.readString(`/local/domain/${d.domid}/name`)).toBe("perms");
    c.rm("/tool/secret");
    c.conn.close();
  });

  it("delivers a guest's watch events over the ring", async () => {
    const c = host().openXenstore();
    let paths: string[] = [];
    const d = await host().createDomain({
      name: "watching",
      main: async ({ xenbus }) => {
        const seen = firstValueFrom(xenbus.watch("data/knob").pipe(take(2), toArray()));
        await xenbus.write("data/knob", "go"); // fires the second event
        paths = (await seen).map((e) => e.path);
      },
    });
    await d.done;
    expect(paths).toEqual(["data/knob", "data/knob"]);
    c.conn.close();
  });

  it("crashes only the domain whose main throws, and reports it", async () => {
    const crashes: DomainCrash[] = [];
    const sub = host().domainErrors$.subscribe((c) => crashes.push(c));
    const w = watcher(host());
    w.client.watch("@releaseDomain", "rel");
    w.client.takeEvents();
    let survivorCtx: GuestContext | undefined;
    const survivor = await host().createDomain({
      name: "survivor",
      main: async (ctx) => {
        survivorCtx = ctx;
        await ctx.xenbus.write("data/alive", "1");
      },
    });
    const boom = new Error("guest bug");
    const bad = await host().createDomain({
      name: "bad",
      main: async ({ xenbus }) => {
        await xenbus.read("name");
        throw boom;
      },
    });
    await expect(bad.done).rejects.toBe(boom);
    await survivor.done;
    await new Promise<void>((r) => setImmediate(r));
    const hv = host().hv;
    expect(hv.domainById(bad.domid)!.shutdownCode).toBe(SHUTDOWN.SHUTDOWN_crash);
    expect(hv.domainById(bad.domid)!.crashCause).toBe(boom);
    expect(bad.crash).toBe(boom);
    expect(crashes).toEqual([{ domid: bad.domid, name: "bad", error: boom }]);
    // xenstored noticed the shutdown through VIRQ_DOM_EXC (cxenstored fires @releaseDomain for it).
    expect(w.events.filter((e) => e.token === "rel")).toHaveLength(1);
    // The other domain and dom0 carry on: the survivor still talks to xenstored.
    expect(hv.domainById(survivor.domid)!.shutdownCode).toBeUndefined();
    await survivorCtx!.xenbus.write("data/after", "still here");
    expect(w.client.readString(`/local/domain/${survivor.domid}/data/after`)).toBe("still here");
    expect(hv.domainById(0)!.shutdownCode).toBeUndefined();
    sub.unsubscribe();
    w.client.unwatch("@releaseDomain", "rel");
    w.close();
  });

  it("aborts main's signal when the domain is destroyed", async () => {
    let signal: AbortSignal | undefined;
    const d = await host().createDomain({
      name: "stopping",
      main: (ctx) => void (signal = ctx.signal),
    });
    await d.done;
    expect(signal!.aborted).toBe(false);
    await d.destroy();
    expect(signal!.aborted).toBe(true);
  });

  it("crashes the domain when an events$ subscriber in the guest throws: in virtual time, not on rxjs's real timer", async () => {
    const boom = new Error("subscriber bug");
    const d = await host().createDomain({
      name: "oops",
      main: async ({ events, signal }) => {
        const ipi = events.bindIpi(0);
        ipi.events$.subscribe(() => {
          throw boom;
        });
        ipi.notify();
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
      },
    });
    await expect(d.done).rejects.toBe(boom);
    expect(host().hv.domainById(d.domid)!.shutdownCode).toBe(SHUTDOWN.SHUTDOWN_crash);
    expect(d.crash).toBe(boom);
  });

  it("crashes a domain whose main throws synchronously, before any await", async () => {
    const d = await host().createDomain({
      name: "sync-throw",
      main: () => {
        throw new RangeError("at once");
      },
    });
    await expect(d.done).rejects.toThrow("at once");
    expect(host().hv.domainById(d.domid)!.shutdownCode).toBe(SHUTDOWN.SHUTDOWN_crash);
  });
});

describe("guest main under a chaos seed", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`builds, talks over the ring and tears down cleanly with seed ${seed}`, async () => {
      await withHost(
        async (host) => {
          const guests = await Promise.all(
            ["a", "b", "c"].map((name) =>
              host.createDomain({
                name,
                devices: [{ kind: "vbd" }],
                main: async ({ xenbus }) => {
                  await Promise.all([
                    xenbus.write("data/x", name),
                    xenbus.read("name"),
                    xenbus.write("data/y", "2"),
                  ]);
                  expect(await xenbus.read("data/x")).toBe(name);
                },
              }),
            ),
          );
          await Promise.all(guests.map((g) => g.done));
          const reports = await Promise.all(guests.map((g) => g.destroy({ timeoutNs: 1_000_000 })));
          expect(reports.flatMap((r) => r.timedOut.map((t) => t.kind))).toEqual([
            "vbd",
            "vbd",
            "vbd",
          ]);
          expect(host.hv.domains.map((d) => d.domid)).toEqual([0]);
        },
        { chaos: { seed } },
      );
    });
  }
});
