// The scheduler's quiescence rule (hypervisor-sim sched/scheduler.ts): virtual time advances only
// when the whole host is quiescent, so a scenario reaches the same virtual timestamps whether the
// auto pump runs it or a test drives it in manual mode — with and without chaos.
//
// Before the rule, the auto pump jumped to the next timer in the same event-loop turn that ran the
// deliveries, before the guest continuations they released: a guest acked a dom0 write only after
// a 10 s timer armed at the write had fired, and destroyDomain of a cooperating backend timed out.
import { describe, expect, it } from "vitest";
import { concatMap, filter, firstValueFrom } from "rxjs";
import { SCHEDOP } from "@pvkit/hypervisor-sim/abi";
import type { XenbusClient } from "@pvkit/guest-sdk";
import type { GuestContext, Host } from "@pvkit/toolstack";
import { createTestHost } from "@pvkit/toolstack/testing";

const MS = 1_000_000;
const SEEDS = [1, 7, 42, 1234];
const MODES = ["auto", "manual"] as const;

/** io/xenbus.h `enum xenbus_state`, the values this file writes and waits for. */
const STATE = {
  Initialising: "1",
  InitWait: "2",
  Initialised: "3",
  Connected: "4",
  Closing: "5",
  Closed: "6",
} as const;

/** Resolves with the first value of `path` that satisfies `ok`, looking on every watch event. */
function firstValue(
  xs: XenbusClient,
  path: string,
  ok: (v: string | undefined) => boolean,
): Promise<string | undefined> {
  return firstValueFrom(
    xs.watch(path).pipe(
      concatMap(() => xs.read(path).catch(() => undefined)),
      filter(ok),
    ),
  );
}

type Scenario = (host: Host, log: (what: string) => void) => Promise<void>;

/** Runs `scenario` on a fresh leak-checked host; returns "what@t" entries in the order logged. */
async function run(
  mode: (typeof MODES)[number],
  seed: number | undefined,
  scenario: Scenario,
): Promise<string[]> {
  const t = await createTestHost({ mode, ...(seed !== undefined ? { chaos: { seed } } : {}) });
  const entries: string[] = [];
  let open = true;
  try {
    await scenario(t.host, (what) => open && entries.push(`${what}@${t.host.hv.now}`));
  } finally {
    // What happens after the scenario's last await (the auto pump runs on; teardown) is not
    // part of the comparison.
    open = false;
    await t.finish();
  }
  return entries;
}

/** dom0 writes a command; the guest, watching for it, acks. A 10 s dom0 timer is armed at the write. */
const watchAndAck: Scenario = async (host, log) => {
  const d = await host.createDomain({
    name: "acker",
    main: async (ctx) => {
      await firstValue(ctx.xenbus, "data/cmd", (v) => v === "go");
      log("guest saw go");
      await ctx.xenbus.write("data/ack", "1");
      log("guest acked");
    },
  });
  const xs = host.openXenstore();
  host.hv.scheduler.at(host.hv.now + 10_000 * MS, () => log("10 s timer"));
  xs.write(`/local/domain/${d.domid}/data/cmd`, "go");
  log("dom0 wrote go");
  await host.until(d.done, "the guest's ack");
  log("guest done");
  xs.conn.close();
};

/** A guest that sleeps in SCHEDOP_poll (no ports) between xenstore writes. */
const timerDriven: Scenario = async (host, log) => {
  const d = await host.createDomain({
    name: "sleeper",
    main: async (ctx) => {
      for (let i = 0; i < 4; i++) {
        const rc = await ctx.guest.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, {
          ports: [],
          nr_ports: 0,
          timeout: host.hv.now + (i + 1) * MS,
        });
        log(`woke ${i} rc=${rc}`);
        await ctx.xenbus.write("data/tick", String(i));
      }
    },
  });
  await host.until(d.done, "the sleeper's four ticks");
  log("done");
};

/**
 * A backend in a driver domain and a frontend, both on the bare xenbus client: the whole
 * handshake (InitWait, Initialised, Connected both ways), then `destroyDomain` of the frontend,
 * which the cooperating backend answers with Closed.
 */
const handshakeAndDestroy: Scenario = async (host, log) => {
  let backendDone!: Promise<void>;
  const drv = await host.createDomain({
    name: "driver-domain",
    main: (ctx) => {
      backendDone = backend(ctx, log);
      return backendDone;
    },
  });
  const fe = await host.createDomain({
    name: "front",
    devices: [{ kind: "pvtest", devid: 0, backend: drv.domid }],
    main: (ctx) => frontend(ctx, log),
  });
  await host.until(fe.done, "the frontend reaching Connected");
  const report = await host.until(host.destroyDomain(fe.domid), "destroyDomain of the frontend");
  log(`destroyed: ${report.devices.map((x) => `${x.kind}=${x.outcome}`).join(",")}`);
  await host.until(drv.done, "the backend reaching Closed");
  await host.until(host.destroyDomain(drv.domid), "destroyDomain of the driver domain");
  log("driver domain destroyed");
};

async function backend(ctx: GuestContext, log: (what: string) => void): Promise<void> {
  const xs = ctx.xenbus;
  const list = await firstValueFrom(
    xs.watch("backend/pvtest").pipe(
      concatMap(() => xs.directory("backend/pvtest").catch(() => [] as string[])),
      filter((l) => l.length > 0),
    ),
  );
  const be = `backend/pvtest/${list[0]}/0`;
  const front = (await xs.read(`${be}/frontend`))!;
  await xs.write(`${be}/state`, STATE.InitWait);
  log("backend InitWait");
  await firstValue(xs, `${front}/state`, (v) => v === STATE.Initialised);
  const ring = await xs.read(`${front}/ring-ref`);
  await xs.write(`${be}/state`, STATE.Connected);
  log(`backend Connected (ring-ref ${ring})`);
  await firstValue(xs, `${be}/state`, (v) => v === STATE.Closing);
  log("backend saw Closing");
  await xs.write(`${be}/state`, STATE.Closed);
  log("backend Closed");
}

async function frontend(ctx: GuestContext, log: (what: string) => void): Promise<void> {
  const xs = ctx.xenbus;
  const fe = "device/pvtest/0";
  const be = (await xs.read(`${fe}/backend`))!;
  await firstValue(xs, `${be}/state`, (v) => v === STATE.InitWait);
  await xs.transaction(async (tx) => {
    await tx.write(`${fe}/ring-ref`, "8");
    await tx.write(`${fe}/state`, STATE.Initialised);
  });
  log("frontend Initialised");
  await firstValue(xs, `${be}/state`, (v) => v === STATE.Connected);
  await xs.write(`${fe}/state`, STATE.Connected);
  log("frontend Connected");
}

describe("the quiescence rule: auto and manual runs reach the same virtual timestamps", () => {
  it("acks a watched dom0 write at once, before a 10 s timer armed at the write (auto mode)", async () => {
    expect(await run("auto", undefined, watchAndAck)).toEqual([
      "dom0 wrote go@0",
      "guest saw go@0",
      "guest acked@0",
      "guest done@0",
    ]);
  });

  it("completes destroyDomain of a cooperating backend with closed, not a timeout, in both modes", async () => {
    for (const mode of MODES) {
      const entries = await run(mode, undefined, handshakeAndDestroy);
      expect(entries).toEqual([
        "backend InitWait@0",
        "frontend Initialised@0",
        "backend Connected (ring-ref 8)@0",
        "frontend Connected@0",
        "backend saw Closing@0",
        "backend Closed@0",
        "destroyed: console=console,pvtest=closed@0",
        "driver domain destroyed@0",
      ]);
    }
  });

  it("wakes a sleeping guest at its exact timeouts in both modes", async () => {
    for (const mode of MODES) {
      // The first poll returns at once: the new domain's vCPU has events needing delivery
      // (do_poll's local_events_need_delivery() check). Each later sleep lasts its full timeout.
      expect(await run(mode, undefined, timerDriven)).toEqual([
        "woke 0 rc=0@0",
        `woke 1 rc=0@${2 * MS}`,
        `woke 2 rc=0@${5 * MS}`,
        `woke 3 rc=0@${9 * MS}`,
        `done@${9 * MS}`,
      ]);
    }
  });

  for (const [name, scenario] of [
    ["a watch-and-ack round trip", watchAndAck],
    ["a full xenbus handshake and destroyDomain", handshakeAndDestroy],
    ["a timer-driven guest", timerDriven],
  ] as const) {
    it(`runs ${name} to the same timestamps in auto and manual mode, for chaos seeds ${SEEDS.join(", ")}`, async () => {
      const traces: string[][] = [];
      for (const seed of SEEDS) {
        const auto = await run("auto", seed, scenario);
        const manual = await run("manual", seed, scenario);
        expect(manual, `seed ${seed}`).toEqual(auto);
        traces.push(auto);
      }
      // Chaos delays are real: different seeds move the timestamps (the runs above are not all 0).
      expect(new Set(traces.map((t) => t.join("|"))).size).toBeGreaterThan(1);
    });
  }
});
