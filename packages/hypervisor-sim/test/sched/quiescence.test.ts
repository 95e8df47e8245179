// The quiescence rule (sched/scheduler.ts): virtual time moves on only when nothing is due, the
// guest continuations released by what ran have run, and no clock hold is taken.
import { describe, expect, it } from "vitest";
import {
  Hypervisor,
  QUIET_TURNS,
  Scheduler,
  StallError,
  describeBlocked,
} from "@pvkit/hypervisor-sim";
import { EVTCHNOP, SCHEDOP } from "@pvkit/hypervisor-sim/abi";

const MS = 1_000_000;
const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

describe("Scheduler quiescence rule", () => {
  it("runs a continuation chain released by a delivery before a timer that is already queued", async () => {
    for (const mode of ["auto", "manual"] as const) {
      const s = new Scheduler({ mode });
      const seen: string[] = [];
      s.at(5 * MS, () => seen.push(`timer@${s.now}`));
      const released = new Promise<void>((r) => s.defer(r));
      const chain = (async () => {
        await released;
        for (let i = 0; i < 50; i++) await Promise.resolve();
        seen.push(`chain@${s.now}`);
      })();
      await s.until(chain);
      await s.until(new Promise<void>((r) => s.at(6 * MS, r)));
      expect(seen, mode).toEqual(["chain@0", `timer@${5 * MS}`]);
    }
  });

  it(`waits ${QUIET_TURNS} quiet turns and one more, so a continuation that hops ${QUIET_TURNS} times through setImmediate runs first`, async () => {
    const s = new Scheduler({ mode: "auto" });
    const seen: string[] = [];
    s.at(MS, () => seen.push(`timer@${s.now}`));
    s.defer(() => {
      void Promise.resolve().then(() =>
        setImmediate(() => setImmediate(() => seen.push(`hop@${s.now}`))),
      );
    });
    await s.until(new Promise<void>((r) => s.at(2 * MS, r)));
    expect(seen).toEqual(["hop@0", `timer@${MS}`]);
  });

  it("holds the clock while real I/O is in flight, and moves on when the hold is released", async () => {
    const s = new Scheduler({ mode: "auto" });
    const seen: string[] = [];
    s.at(MS, () => seen.push(`timer@${s.now}`));
    const hold = s.hold("file read of disk.img");
    expect(s.holds).toEqual(["file read of disk.img"]);
    for (let i = 0; i < 20; i++) await turn();
    expect(seen).toEqual([]);
    expect(s.now).toBe(0);
    s.defer(() => seen.push(`io done@${s.now}`));
    for (let i = 0; i < 5; i++) await turn();
    expect(seen).toEqual(["io done@0"]); // what is due still runs under a hold
    hold.release();
    hold.release(); // idempotent
    await s.until(new Promise<void>((r) => s.at(2 * MS, r)));
    expect(seen).toEqual(["io done@0", `timer@${MS}`]);
    expect(s.holds).toEqual([]);
  });

  it("settle() returns at the quiescent point with the timer still queued, in both modes", async () => {
    for (const mode of ["auto", "manual"] as const) {
      const s = new Scheduler({ mode, chaos: { seed: 3, maxDelayNs: 500 } });
      let fired = false;
      s.at(MS, () => (fired = true));
      let ran = 0;
      for (let i = 0; i < 10; i++) s.defer(() => ran++);
      await s.settle();
      expect([ran, fired, s.pendingDeliveries, s.now < MS], mode).toEqual([10, false, 0, true]);
    }
  });

  it("rejects until() with a StallError when nothing is left to run and the promise is pending", async () => {
    for (const mode of ["auto", "manual"] as const) {
      const s = new Scheduler({ mode });
      s.at(3 * MS, () => undefined);
      const never = new Promise<void>(() => undefined);
      const err = await s
        .until(never, { what: "the reply", describe: () => ["d1 (g): waiting"] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StallError);
      const e = err as StallError;
      expect([e.code, e.at, e.report]).toEqual(["ERR_STALLED", 3 * MS, ["d1 (g): waiting"]]);
      expect(e.message).toBe(
        `the reply can never settle: the host went quiescent at t=${3 * MS} ns with no timer or delivery left\n  d1 (g): waiting`,
      );
    }
  });

  it("does not report a stall while a clock hold is taken", async () => {
    const s = new Scheduler({ mode: "manual" });
    const hold = s.hold("socket read");
    let done!: () => void;
    const p = new Promise<void>((r) => (done = r));
    const waiting = s.until(p);
    for (let i = 0; i < 10; i++) await turn();
    done();
    hold.release();
    await expect(waiting).resolves.toBeUndefined();
  });

  it("describes what each domain is blocked on", async () => {
    const hv = new Hypervisor({ mode: "manual" });
    hv.createDomain({ name: "Domain-0" });
    const d1 = hv.createDomain({ name: "waiter" });
    const g = hv.guest(d1.domid);
    const a = { dom: 0x7ff0, remote_dom: 0, port: 0 };
    expect(g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, a)).toBe(0);
    await hv.settle();
    const poll = g.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, {
      ports: [a.port],
      nr_ports: 1,
      timeout: 0,
    });
    const err = (await hv.scheduler
      .until(poll, { what: "the poll", describe: () => describeBlocked(hv) })
      .catch((e: unknown) => e)) as StallError;
    expect(err).toBeInstanceOf(StallError);
    expect(err.report).toEqual([
      "d0 (Domain-0): no event channel bound",
      `d1 (waiter): vcpu0 in SCHEDOP_poll on port ${a.port} with no timeout; ports ${a.port}:UNBOUND`,
    ]);
  });
});
