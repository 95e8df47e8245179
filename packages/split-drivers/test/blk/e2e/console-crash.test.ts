// Fault injection "a backend crashes and restarts (only its driver)" for the consoles: xenconsoled,
// the backend of console 0 and of the extra consoles, dies without a word (its ring mappings and
// ports dropped, no xenstore write) and a fresh daemon starts (restartBackendDriver). Console 0
// needs nothing of the guest: the new daemon maps the ring and binds the port again (a port
// whose remote end closed is unbound again, evtchn_close) and prints what the guest wrote while
// it was down. Console 1, a xenbus device, is handed to the new daemon (backend state reset to
// Initialising); the frontend sees it, closes the dead connection and connects again.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import {
  type GuestContext,
  type Host,
  LocalXenbusTransport,
  Xenconsoled,
  XsLocalClient,
  detachDevice,
} from "@pvkit/toolstack";
import {
  assertNoGuestLeaks,
  createTestHost,
  readNode,
  restartBackendDriver,
} from "@pvkit/toolstack/testing";
import { ConsoleFront, consoleFrontend, extraConsole } from "@pvkit/split-drivers";

let logDir: string;
beforeEach(() => void (logDir = mkdtempSync(join(tmpdir(), "pvkit-console-crash-"))));
afterEach(() => rmSync(logDir, { recursive: true, force: true }));

/** A second xenconsoled on fresh dom0 connections, as the host builds its own. */
function freshDaemon(h: Host): Xenconsoled {
  return new Xenconsoled(
    {
      hv: h.hv,
      guest0: h.dom0.guest,
      events0: h.dom0.events,
      connection: h.xenstored.connect("local"),
      transport: new LocalXenbusTransport(new XsLocalClient(h.xenstored.connect("local"))),
    },
    { pty: false, logDir },
  );
}

describe("consoles: xenconsoled crashes and restarts", () => {
  it("prints console 0's output written while the daemon was down, and reconnects console 1", async () => {
    const t = await createTestHost({ xenconsoled: { pty: false, logDir } });
    const h = t.host;
    let ctx!: GuestContext;
    const d = await h.createDomain({
      name: "con",
      devices: [{ kind: "console", devid: 1 }],
      main: (c) => void (ctx = c),
    });
    await h.hv.settle();
    const con0 = ConsoleFront.open(ctx);
    const bus = new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }));
    const reg = bus.registerFrontend(consoleFrontend());
    const first = extraConsole(await h.until(reg.connected(1), "console 1 connecting"));
    await h.until(
      Promise.all([con0.write("before\r\n"), first.write("one: before\r\n")]),
      "the first output",
    );
    await h.hv.settle();
    const old = h.xenconsoled!;
    let fresh: Xenconsoled | undefined;
    const r = await h.until(
      restartBackendDriver(h, {
        types: ["console"],
        crash: () => old.close(),
        start: () => (fresh = freshDaemon(h)),
      }),
      "the daemon restart",
    );
    // Console 1 was being served; console 0's backend directory is never probed (Initialising).
    expect(r.devices).toEqual([`/local/domain/0/backend/console/${d.domid}/1`]);
    expect(r.frontendsLetGo).toBe(true);
    // Written while no daemon runs: console 0 keeps it in its ring.
    await h.until(con0.write("during\r\n"), "writing with no daemon");
    const dev = await h.until(reg.connected(1), "console 1 reconnecting");
    const second = extraConsole(dev);
    expect(second).not.toBe(first);
    await h.until(
      Promise.all([con0.write("after\r\n"), second.write("one: after\r\n")]),
      "the output after the restart",
    );
    await h.hv.settle();
    expect(readFileSync(join(logDir, "guest-con.log"), "latin1")).toBe(
      "before\r\nduring\r\nafter\r\n",
    );
    expect(readFileSync(join(logDir, "guest-con-console1.log"), "latin1")).toBe(
      "one: before\r\none: after\r\n",
    );
    expect(fresh!.console(d.domid)).toBeDefined();
    expect(readNode(h, `/local/domain/0/backend/console/${d.domid}/1/state`)).toBe(
      String(XenbusState.XenbusStateConnected),
    );
    // Teardown: console 1 unplugged through the new daemon, the guest's consoles closed, the
    // daemon stopped before the leak checks (the host counts only its own daemon's ports as its).
    const removal = await h.until(detachDevice(h, d.domid, "console", 1), "unplugging console 1");
    expect(removal.outcome).toBe("closed");
    await h.until(bus.close(), "the guest bus closing");
    con0.destroy();
    fresh!.close();
    await h.hv.settle();
    assertNoGuestLeaks(h);
    expect(bus.errors).toEqual([]);
    await t.finish();
  });
});
