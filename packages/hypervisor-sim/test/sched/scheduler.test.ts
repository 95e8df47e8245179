import { describe, expect, it } from "vitest";
import { Scheduler } from "@pvkit/hypervisor-sim";

describe("Scheduler", () => {
  it("runs deliveries FIFO without chaos and leaves future timers queued", () => {
    const s = new Scheduler({ mode: "manual" });
    const log: string[] = [];
    s.at(1000, () => log.push("timer"));
    s.defer(() => log.push("a"));
    s.defer(() => log.push("b"));
    expect(s.runUntilIdle()).toBe(2);
    expect(log).toEqual(["a", "b"]);
    expect(s.now).toBe(0);
    expect(s.queued).toBe(1);
  });

  it("advance fires timers in time order and sets the clock to the end", () => {
    const s = new Scheduler({ mode: "manual" });
    const log: number[] = [];
    s.at(300, () => log.push(s.now));
    s.at(100, () => log.push(s.now));
    s.at(5000, () => log.push(s.now));
    s.advance(1000);
    expect(log).toEqual([100, 300]);
    expect(s.now).toBe(1000);
  });

  it("runs a timer set in the past at the current time", () => {
    const s = new Scheduler({ mode: "manual" });
    s.advance(500);
    let at = -1;
    s.at(10, () => (at = s.now));
    s.advance(0);
    expect(at).toBe(500);
  });

  it("does not run a cancelled task", () => {
    const s = new Scheduler({ mode: "manual" });
    let ran = false;
    const h = s.defer(() => (ran = true));
    h.cancel();
    expect(s.pendingDeliveries).toBe(0);
    s.runUntilIdle();
    expect(ran).toBe(false);
  });

  it("reorders deliveries by seed under chaos, identically for the same seed", () => {
    const order = (seed: number): number[] => {
      const s = new Scheduler({ mode: "manual", chaos: { seed, maxDelayNs: 1000 } });
      const out: number[] = [];
      for (let i = 0; i < 20; i++) s.defer(() => out.push(i));
      s.runUntilIdle();
      return out;
    };
    expect(order(7)).toEqual(order(7));
    expect(order(7)).not.toEqual(order(8));
    expect([...order(7)].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  it("pumps itself in auto mode and jumps virtual time to pending timers", async () => {
    const s = new Scheduler();
    const fired = await new Promise<number>((resolve) => s.at(1_000_000_000, () => resolve(s.now)));
    expect(fired).toBe(1_000_000_000);
  });

  it("keeps one global order across timers due now and deliveries queued after them", () => {
    const s = new Scheduler({ mode: "manual" });
    s.advance(100);
    const log: string[] = [];
    s.defer(() => log.push("d1"));
    s.at(50, () => log.push("t-past")); // due now: runs at 100, after d1 (queued earlier)
    s.defer(() => log.push("d2"));
    s.at(100, () => log.push("t-now"));
    s.defer(() => log.push("d3"));
    s.runUntilIdle();
    expect(log).toEqual(["d1", "t-past", "d2", "t-now", "d3"]);
  });

  it("drops cancelled deliveries wherever they are queued", () => {
    const s = new Scheduler({ mode: "manual" });
    const log: number[] = [];
    const hs = [0, 1, 2, 3].map((i) => s.defer(() => log.push(i)));
    hs[0]!.cancel();
    hs[2]!.cancel();
    expect(s.pendingDeliveries).toBe(2);
    s.runUntilIdle();
    expect(log).toEqual([1, 3]);
  });

  it("rejects a negative advance", () => {
    expect(() => new Scheduler({ mode: "manual" }).advance(-1)).toThrow(RangeError);
  });
});

describe("Scheduler FIFO growth", () => {
  it("keeps FIFO order through wrap-around and growth of the delivery queue", () => {
    const s = new Scheduler({ mode: "manual" });
    const out: number[] = [];
    let next = 0;
    // Interleave pushes and runs so the circular buffer wraps, then burst past its capacity.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 40; i++) {
        const v = next++;
        s.defer(() => out.push(v));
      }
      for (let i = 0; i < 30; i++) s.step();
    }
    for (let i = 0; i < 300; i++) {
      const v = next++;
      s.defer(() => out.push(v));
    }
    s.runUntilIdle();
    expect(out).toEqual([...Array(next).keys()]);
  });
});
