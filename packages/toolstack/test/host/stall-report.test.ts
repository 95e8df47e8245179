// A test that would wait forever fails at once: host.until() and drive() reject with a
// StallError that says what each domain is blocked on, when the host is quiescent with no timer
// or delivery left.
import { describe, expect, it } from "vitest";
import { filter, firstValueFrom } from "rxjs";
import { StallError } from "@pvkit/hypervisor-sim";
import { createTestHost, drive } from "@pvkit/toolstack/testing";

describe("stall reports", () => {
  for (const mode of ["auto", "manual"] as const) {
    it(`rejects host.until() with what each domain waits on when nothing can happen (${mode})`, async () => {
      const t = await createTestHost({ mode });
      const h = t.host;
      const d = await h.createDomain({
        name: "forgotten",
        main: async (ctx) => {
          // Waits for a node nobody will write.
          await firstValueFrom(
            ctx.xenbus.watch("data/never").pipe(filter((e) => e.path.endsWith("/never") && false)),
          );
        },
      });
      const err = (await h.until(d.done, "d1's main").catch((e: unknown) => e)) as StallError;
      expect(err).toBeInstanceOf(StallError);
      expect(err.at).toBe(0);
      const home = `/local/domain/${d.domid}`;
      expect(err.report.filter((l) => l.startsWith(`d${d.domid} `))).toEqual([
        // port 1: the xenstore ring (bound by xenstored); port 2: console 0 (bound by xenconsoled)
        `d${d.domid} (forgotten): ports 1:INTERDOMAIN, 2:INTERDOMAIN`,
        `d${d.domid} (forgotten) xenstore: watching ${home}/data/never`,
      ]);
      expect(err.message.split("\n")[0]).toBe(
        "d1's main can never settle: the host went quiescent at t=0 ns with no timer or delivery left",
      );
      await t.finish();
    });
  }

  it("makes drive() reject the same way in auto mode (it used to wait forever)", async () => {
    const t = await createTestHost({ mode: "auto" });
    const never = new Promise<void>(() => undefined);
    await expect(drive(t.host.hv, never, "a promise nobody resolves")).rejects.toThrow(
      /^a promise nobody resolves can never settle: the host went quiescent at t=0 ns/,
    );
    await t.finish();
  });
});

describe("TestHost.stallReport (what useHost() adds to a test that fails while stalled)", () => {
  it("describes a stalled host, and nothing while work is left", async () => {
    const t = await createTestHost({ mode: "auto" });
    const d = await t.host.createDomain({
      name: "stuck",
      main: () => new Promise<void>(() => undefined),
    });
    t.host.hv.scheduler.at(5_000, () => undefined);
    expect(t.stallReport()).toBeUndefined(); // a timer is left
    await t.host.until(new Promise<void>((r) => t.host.hv.scheduler.at(5_000, r)));
    await t.host.hv.settle();
    const e = t.stallReport()!;
    expect(e).toBeInstanceOf(StallError);
    expect(e.message.split("\n")[0]).toBe(
      "what the test awaited can never settle: the host went quiescent at t=5000 ns with no timer or delivery left",
    );
    expect(e.report).toContain(`d${d.domid} (stuck) xenstore: no watches`);
    await t.finish();
    expect(t.stallReport()).toBeUndefined(); // closed
  });
});
