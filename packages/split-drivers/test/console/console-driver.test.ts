// Extra consoles (device/console/N) on the xenbus driver framework: the guest's consoleFrontend
// against xenconsoled's backend, end to end through the test host — a real pty, hot-unplug with
// leak checks on every domain, and console 0 / console 1 rate limits kept apart.
import { constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReadStream } from "node:tty";
import { firstValueFrom } from "rxjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import { type GuestContext, detachDevice } from "@pvkit/toolstack";
import { assertNoGuestLeaks, checkGuestLeaks, createTestHost } from "@pvkit/toolstack/testing";
import { ConsoleError, ConsoleFront, consoleFrontend, extraConsole } from "@pvkit/split-drivers";

const MS = 1_000_000;
let logDir: string;
beforeEach(() => void (logDir = mkdtempSync(join(tmpdir(), "pvkit-console1-"))));
afterEach(() => rmSync(logDir, { recursive: true, force: true }));

/** A person's terminal on `path` (as pty.integration.test.ts). */
function attach(path: string): {
  seen: () => string;
  until: (s: string) => Promise<void>;
  type: (s: string) => void;
  close: () => void;
} {
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  const rs = new ReadStream(fd);
  let text = "";
  const waiters: (() => void)[] = [];
  rs.on("data", (b: Buffer) => {
    text += b.toString("latin1");
    for (const w of waiters.splice(0)) w();
  });
  const until = async (s: string): Promise<void> => {
    while (!text.includes(s)) await new Promise<void>((r) => waiters.push(r));
  };
  return { seen: () => text, until, type: (s) => void writeSync(fd, s), close: () => rs.destroy() };
}

const bus = (ctx: GuestContext): XenbusBus =>
  new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }));

describe("extra consoles on the driver framework", () => {
  it("brings bytes typed on console 1's pty to the guest, and shows its output on the terminal and in its log", async () => {
    await using t = await createTestHost({ xenconsoled: { logDir } });
    const host = t.host;
    const d = await host.createDomain({
      name: "two",
      devices: [{ kind: "console", devid: 1 }],
      main: async (ctx) => {
        const b = bus(ctx);
        const reg = b.registerFrontend(consoleFrontend());
        const con1 = extraConsole(await reg.connected(1));
        await con1.write("login1: ");
        const typed = await firstValueFrom(con1.input$);
        await con1.write(`hello, ${new TextDecoder().decode(typed)}\r\n`);
        await reg.unregister();
      },
    });
    await host.hv.settle();
    const xs = host.openXenstore();
    const fe = `/local/domain/${d.domid}/device/console/1`;
    const path = xs.readString(`${fe}/tty`);
    expect(path).toMatch(/^\/dev\/pts\/\d+$/);
    const xc1 = host.xenconsoled!.extraConsole(d.domid, 1)!;
    expect(xc1.ttyPath).toBe(path);
    // Console 0 has its own terminal.
    expect(host.xenconsoled!.console(d.domid)!.ttyPath).not.toBe(path);
    // The keys hvc_xen writes, and both ends Connected (console 0's backend directory untouched).
    expect(xs.readString(`${fe}/port`)).toMatch(/^\d+$/);
    expect(Number(xs.readString(`${fe}/ring-ref`))).toBe(8);
    expect(xs.readString(`${fe}/state`)).toBe(String(XenbusState.XenbusStateConnected));
    expect(xs.readString(`/local/domain/0/backend/console/${d.domid}/1/state`)).toBe(
      String(XenbusState.XenbusStateConnected),
    );
    expect(xs.readString(`/local/domain/0/backend/console/${d.domid}/0/state`)).toBe(
      String(XenbusState.XenbusStateInitialising),
    );
    const term = attach(path);
    await term.until("login1: ");
    term.type("alice");
    await d.done;
    await term.until("hello, alice\r\n");
    expect(term.seen()).toBe("login1: hello, alice\r\n");
    expect(readFileSync(join(logDir, "guest-two-console1.log"), "latin1")).toBe(
      "login1: hello, alice\r\n",
    );
    expect(readFileSync(join(logDir, "guest-two.log"), "latin1")).toBe("");
    expect(xc1.counters).toMatchObject({ bytesIn: 5, inputReads: 1, bytesOut: 22 });
    term.close();
    await t.finish();
  });

  it("ends a hot-unplug of console 1 with closed, its console closed, and no domain leaking", async () => {
    await using t = await createTestHost({ mode: "manual" });
    const host = t.host;
    let started!: (b: XenbusBus) => void;
    const guestBus = new Promise<XenbusBus>((r) => (started = r));
    const d = await host.createDomain({
      name: "unplug",
      devices: [{ kind: "console", devid: 1 }],
      main: (ctx) => started(bus(ctx)),
    });
    const b = await host.until(guestBus, "the guest's bus");
    const reg = b.registerFrontend(consoleFrontend());
    const dev = await host.until(reg.connected(1), "console 1 connecting");
    const con1 = extraConsole(dev);
    await host.until(con1.write("before unplug\n"), "console 1 output");
    const xc1 = host.xenconsoled!.extraConsole(d.domid, 1)!;
    expect(xc1.counters.bytesOut).toBe(14);
    expect(dev.resources).toEqual([
      `grant ref ${dev.resources[0]!.split(" ")[2]} (ring page 0)`,
      expect.stringMatching(/^port \d+ \(unbound for d0\)$/),
      "console device/console/1",
    ]);
    // While connected, dom0 maps the ring (what the leak check would report if it stayed).
    const ringRef = Number(
      host.openXenstore().readString(`/local/domain/${d.domid}/device/console/1/ring-ref`),
    );
    expect(checkGuestLeaks(host, 0).map((l) => l.message)).toEqual([
      expect.stringContaining(`still maps grant ref ${ringRef} of d${d.domid}`),
    ]);
    expect(host.xenconsoled!.ports).toContain(xc1.localPort);

    const removal = await host.until(
      detachDevice(host, d.domid, "console", 1),
      "detaching console 1",
    );
    expect(removal).toMatchObject({
      kind: "console",
      devid: 1,
      outcome: "closed",
      lastBackendState: String(XenbusState.XenbusStateClosed),
    });
    expect(host.xenconsoled!.extraConsole(d.domid, 1)).toBeUndefined();
    expect(con1.closed).toBe(true);
    await expect(con1.write("after")).rejects.toBeInstanceOf(ConsoleError);
    expect(dev.resources).toEqual([]);
    await host.until(reg.unregister(), "unregistering the console driver");
    assertNoGuestLeaks(host);
    await t.finish();
  });

  it("rate-limits console 1 without masking console 0 (one period and count per console)", async () => {
    await using t = await createTestHost({ mode: "manual" });
    const host = t.host;
    const sched = host.hv.scheduler;
    let started!: (c: GuestContext) => void;
    const gotCtx = new Promise<GuestContext>((r) => (started = r));
    const d = await host.createDomain({
      name: "apart",
      devices: [{ kind: "console", devid: 1 }],
      main: (ctx) => started(ctx),
    });
    const ctx = await host.until(gotCtx, "the guest's context");
    const con0 = ConsoleFront.open(ctx);
    const b = bus(ctx);
    const reg = b.registerFrontend(consoleFrontend());
    const con1 = extraConsole(await host.until(reg.connected(1), "console 1 connecting"));
    const xc0 = host.xenconsoled!.console(d.domid)!;
    const xc1 = host.xenconsoled!.extraConsole(d.domid, 1)!;
    sched.runUntilIdle();
    expect(host.hv.now).toBe(0);
    // Each console's bind raised its first event (evtchn_bind_interdomain sets the port pending).
    expect(xc0.counters).toMatchObject({ events: 1, eventCount: 1, bytesOut: 0 });
    expect(xc1.counters).toMatchObject({ events: 1, eventCount: 1, bytesOut: 0 });
    // 40 notifications on console 1, each delivered before the next: its allowance runs out.
    for (let i = 0; i < 40; i++) {
      expect(con1.tryWrite("1")).toBe(1);
      sched.runUntilIdle();
    }
    expect(xc1.counters).toMatchObject({
      events: 30,
      eventCount: 30,
      rateLimited: 1,
      bytesOut: 29,
    });
    expect(xc1.rateLimitedNow).toBe(true);
    // Console 0, in the same period, is served event by event: its count is its own.
    for (let i = 0; i < 10; i++) {
      expect(con0.tryWrite("0")).toBe(1);
      sched.runUntilIdle();
      expect(xc0.counters.bytesOut).toBe(i + 1);
    }
    expect(xc0.counters).toMatchObject({
      events: 11,
      eventCount: 11,
      rateLimited: 0,
      bytesOut: 10,
    });
    expect(xc0.rateLimitedNow).toBe(false);
    expect(xc1.counters.bytesOut).toBe(29); // console 1 still masked
    // Console 1's period ends at 200 ms: its pending event comes in, the other 11 bytes go out.
    sched.advance(200 * MS - 1);
    expect(xc1.counters.bytesOut).toBe(29);
    sched.advance(1);
    expect(xc1.counters).toMatchObject({ events: 31, eventCount: 1, bytesOut: 40 });
    expect(xc1.rateLimitedNow).toBe(false);
    con0.destroy();
    await host.until(reg.unregister(), "unregistering the console driver");
    await t.finish();
  });
});
