// destroyDomain follows libxl's teardown (libxl_device.c): backend online=0 and Closing, a wait
// in virtual time for Closed (or a timeout), the directories removed, the domain destroyed, and
// xenstored releasing it (@releaseDomain, nodes it owned removed).
import { describe, expect, it } from "vitest";
import { HostError, LIBXL_DESTROY_TIMEOUT_NS } from "@pvkit/toolstack";
import { createTestHost, drive, useHost } from "@pvkit/toolstack/testing";
import { closingBackend, pathsUnder, readOrUndefined, recordWrites, watcher } from "./helpers.js";

const MS = 1_000_000;

describe("destroyDomain", () => {
  const host = useHost();

  it("tells the backend to close, waits for Closed, then removes every directory", async () => {
    const h = host();
    const d = await h.createDomain({ name: "victim", devices: [{ kind: "vbd" }] });
    const be = `/local/domain/0/backend/vbd/${d.domid}/51712`;
    const fe = `/local/domain/${d.domid}/device/vbd/51712`;
    const online = recordWrites(h, `${be}/online`);
    const backend = closingBackend(h, h.hv, be, 2 * MS);
    const c = h.openXenstore();
    let frontendAtClosing: string | undefined;
    // When the backend sees Closing, the frontend directory must still be there (libxl removes the
    // directories last, after the backend is Closed).
    h.hv.scheduler.at(
      h.hv.now + 1 * MS,
      () => (frontendAtClosing = readOrUndefined(c, `${fe}/backend`)),
    );
    await new Promise<void>((r) => setImmediate(r)); // the backend takes its initial watch event
    const t0 = h.hv.now;
    const report = await h.destroyDomain(d.domid);
    online.stop();
    expect(backend.seen).toEqual(["state=1 online=1", "state=5 online=0"]);
    expect(online.values).toEqual(["1", "0", undefined]); // initial, the toolstack's write, the removal
    expect(frontendAtClosing).toBe(be);
    expect(report.devices.map((x) => [x.kind, x.devid, x.outcome, x.lastBackendState])).toEqual([
      ["console", 0, "console", undefined],
      ["vbd", 51712, "closed", "6"],
    ]);
    expect(report.devices[1]!.waitedNs).toBe(2 * MS);
    expect(h.hv.now - t0).toBe(2 * MS);
    expect(report.timedOut).toEqual([]);
    for (const p of [
      `/local/domain/${d.domid}`,
      `/libxl/${d.domid}`,
      `/vm/${d.uuid}`,
      `/local/domain/0/backend`,
    ]) {
      expect(pathsUnder(h, p)).toEqual([]);
    }
    expect(h.hv.domainById(d.domid)).toBeUndefined();
    expect(h.xenstored.isIntroduced(d.domid)).toBe(false);
    c.conn.close();
  });

  it("proceeds after the timeout when the backend never reaches Closed, and reports it", async () => {
    const h = host();
    const d = await h.createDomain({
      name: "stuck",
      devices: [{ kind: "vbd" }, { kind: "vbd", vdev: "xvdb" }],
    });
    const t0 = h.hv.now;
    const report = await h.destroyDomain(d.domid, { timeoutNs: 50 * MS });
    expect(
      report.timedOut.map((x) => [x.devid, x.outcome, x.lastBackendState, x.waitedNs]),
    ).toEqual([
      [51712, "timeout", "5", 50 * MS],
      [51728, "timeout", "5", 50 * MS],
    ]);
    // Both waits ran in parallel, as libxl's multidev does.
    expect(h.hv.now - t0).toBe(50 * MS);
    expect(pathsUnder(h, `/local/domain/${d.domid}`)).toEqual([]);
    expect(pathsUnder(h, `/local/domain/0/backend`)).toEqual([]);
  });

  it("leaves a backend already Closed as it is and does not wait", async () => {
    const h = host();
    const d = await h.createDomain({ name: "closed", devices: [{ kind: "vbd" }] });
    const be = `/local/domain/0/backend/vbd/${d.domid}/51712`;
    const c = h.openXenstore();
    c.write(`${be}/state`, "6");
    const states = recordWrites(h, `${be}/state`);
    const t0 = h.hv.now;
    const report = await h.destroyDomain(d.domid, { timeoutNs: 50 * MS });
    states.stop();
    // The initial watch event, then the directory's removal: nobody wrote Closing.
    expect(states.values).toEqual(["6", undefined]);
    expect(report.devices[1]).toMatchObject({ outcome: "closed", waitedNs: 0 });
    expect(h.hv.now).toBe(t0);
    c.conn.close();
  });

  it("fires @releaseDomain and removes nodes the domain owned elsewhere", async () => {
    const h = host();
    const d = await h.createDomain({ name: "owner" });
    const c = h.openXenstore();
    c.write("/tool/pvkit-test/owned", "x");
    c.setPerms("/tool/pvkit-test/owned", [`n${d.domid}`]);
    c.write("/tool/pvkit-test/kept", "y");
    const w = watcher(h);
    w.client.watch("@releaseDomain", "rel");
    w.client.takeEvents();
    await h.destroyDomain(d.domid, { timeoutNs: 0 });
    await Promise.resolve();
    expect(w.events.filter((e) => e.token === "rel").map((e) => e.path)).toEqual([
      "@releaseDomain",
    ]);
    expect(pathsUnder(h, "/tool/pvkit-test")).toEqual([
      "/tool/pvkit-test",
      "/tool/pvkit-test/kept",
    ]);
    w.client.unwatch("@releaseDomain", "rel");
    w.close();
    c.rm("/tool/pvkit-test");
    c.conn.close();
  });

  it("returns the same promise to a second caller and refuses an unknown domain", async () => {
    const h = host();
    const d = await h.createDomain({ name: "twice" });
    const a = h.destroyDomain(d.domid);
    expect(h.destroyDomain(d.domid)).toBe(a);
    await a;
    await expect(h.destroyDomain(d.domid)).rejects.toBeInstanceOf(HostError);
    await expect(h.destroyDomain(999)).rejects.toMatchObject({ code: "ERR_NO_DOMAIN" });
    expect(h.domain(d.domid)).toBeUndefined();
  });

  it("waits libxl's 10 s by default, in virtual time", async () => {
    const h = host();
    const d = await h.createDomain({ name: "default-timeout", devices: [{ kind: "vbd" }] });
    const t0 = h.hv.now;
    const report = await d.destroy();
    expect(report.timedOut).toHaveLength(1);
    expect(h.hv.now - t0).toBe(LIBXL_DESTROY_TIMEOUT_NS);
  });
});

describe("destroyDomain in manual mode", () => {
  it("waits on the scheduler: nothing moves until the test drives virtual time", async () => {
    const t = await createTestHost({ mode: "manual" });
    const h = t.host;
    const d = await h.createDomain({ name: "manual", devices: [{ kind: "vbd" }] });
    let settled = false;
    const p = h.destroyDomain(d.domid, { timeoutNs: 5 * MS }).then((r) => {
      settled = true;
      return r;
    });
    await h.hv.settle();
    expect(settled).toBe(false);
    h.hv.advance(4 * MS);
    await h.hv.settle();
    expect(settled).toBe(false);
    const report = await drive(h.hv, p);
    expect(report.timedOut.map((x) => x.waitedNs)).toEqual([5 * MS]);
    await t.finish();
  });
});
