// xenconsoled's rate limit (io.c: RATE_LIMIT_ALLOWANCE 30 events per RATE_LIMIT_PERIOD 200 ms,
// the port left masked until the period ends), in virtual time.
import { describe, expect, it } from "vitest";
import { createTestHost } from "@pvkit/toolstack/testing";
import { ConsoleFront } from "@pvkit/split-drivers";
import { guestCtx } from "./helpers.js";

const MS = 1_000_000;

describe("xenconsoled rate limit", () => {
  it("handles exactly 30 events per 200 ms and leaves the port masked until the period ends", async () => {
    await using t = await createTestHost({ mode: "manual", xenconsoled: { pty: false } });
    const host = t.host;
    const { domid, ctx } = await guestCtx(host);
    const front = ConsoleFront.open(ctx);
    const xc = host.xenconsoled!.console(domid)!;
    const sched = host.hv.scheduler;
    expect(host.hv.now).toBe(0);

    // Binding raised the first event (evtchn_bind_interdomain sets the binder's port pending).
    expect(xc.counters).toMatchObject({ events: 1, eventCount: 1, bytesOut: 0 });
    // 100 notifications, each delivered before the next (one byte each).
    for (let i = 0; i < 100; i++) {
      expect(front.tryWrite("x")).toBe(1);
      sched.runUntilIdle();
    }
    expect(xc.counters).toMatchObject({ events: 30, eventCount: 30, rateLimited: 1, bytesOut: 29 });
    expect(xc.rateLimitedNow).toBe(true);
    // The other 70 bytes wait in `out`; the guest's notifications are pending on a masked port.
    expect(front.stats).toMatchObject({ bytesOut: 100, notifications: 100 });

    sched.advance(200 * MS - 1 - host.hv.now);
    expect(xc.counters.events).toBe(30); // 1 ns before the period ends: still masked
    sched.advance(1);
    // At 200 ms a new period starts, the port is unmasked, the pending event comes in.
    expect(host.hv.now).toBe(200 * MS);
    expect(xc.counters).toMatchObject({ events: 31, eventCount: 1, bytesOut: 100 });

    // The second period allows 29 more, then masks again until 400 ms.
    for (let i = 0; i < 40; i++) {
      front.tryWrite("y");
      sched.runUntilIdle();
    }
    expect(xc.counters).toMatchObject({
      events: 60,
      eventCount: 30,
      rateLimited: 2,
      bytesOut: 129,
    });
    sched.advance(400 * MS - host.hv.now);
    expect(xc.counters).toMatchObject({ events: 61, eventCount: 1, bytesOut: 140 });
    front.destroy();
    await t.finish();
  });

  it("counts the first event after a quiet period's end in that period, then unmasks at once (io.c's loop order)", async () => {
    await using t = await createTestHost({ mode: "manual", xenconsoled: { pty: false } });
    const host = t.host;
    const { domid, ctx } = await guestCtx(host);
    const front = ConsoleFront.open(ctx);
    const xc = host.xenconsoled!.console(domid)!;
    const sched = host.hv.scheduler;
    for (let i = 0; i < 28; i++) {
      front.tryWrite("z");
      sched.runUntilIdle();
    }
    expect(xc.counters).toMatchObject({ events: 29, eventCount: 29, rateLimited: 0, bytesOut: 28 });
    sched.advance(200 * MS); // no poll timeout is armed while under the allowance: nothing runs
    expect(xc.counters.eventCount).toBe(29);
    // The pass that would start the new period ran before this event was polled for.
    front.tryWrite("z");
    sched.runUntilIdle();
    expect(xc.counters).toMatchObject({ events: 30, eventCount: 0, rateLimited: 1, bytesOut: 29 });
    expect(xc.rateLimitedNow).toBe(false);
    front.tryWrite("z");
    sched.runUntilIdle();
    expect(xc.counters).toMatchObject({ events: 31, eventCount: 1, bytesOut: 30 });
    front.destroy();
    await t.finish();
  });
});
