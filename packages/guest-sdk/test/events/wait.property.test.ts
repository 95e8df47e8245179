import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { evtchnBindInterdomain, evtchnSend } from "@pvkit/guest-sdk/hypercall";
import { ABIS, guestsOn } from "./support.js";

const ACTIONS = [
  "send",
  "read",
  "wait",
  "step",
  "idle",
  "flush",
  "move",
  "mask",
  "unmask",
  "eoi",
] as const;
type Action = (typeof ACTIONS)[number];

interface Wait {
  newerThan: number;
  resolved: number | undefined;
}

/** Lets promise continuations (resolved waits) run; no real time passes. */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 4; i++) await Promise.resolve();
}

// Under each event ABI: the same actions, vCPU moves and chaos seeds.
describe.each(ABIS)("EventChannel.waitFor on the %s ABI", (abi) => {
  it("resolves every wait iff an event newer than its count was delivered, and loses no event", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.option(fc.nat(), { nil: undefined }),
        fc.array(fc.constantFrom<Action>(...ACTIONS), { maxLength: 80 }),
        async (lateEoi, chaosSeed, actions) => {
          // With a chaos seed Xen delays and reorders deliveries (within its rules).
          const { hv, g0, du, evu } = guestsOn(abi, chaosSeed !== undefined ? { chaosSeed } : {});
          const ch = evu.bindUnbound(0, { lateEoi });
          const peer = evtchnBindInterdomain(g0.hypercall, du.domid, ch.port);
          // A logical clock orders sends against deliveries.
          let clock = 0;
          let sends = 0;
          let lastSend = -1;
          let dispatches = 0;
          let lastDispatch = -1;
          ch.events$.subscribe(() => {
            dispatches++;
            lastDispatch = ++clock;
          });
          let seenCount = 0;
          const waits: Wait[] = [];
          const checkResolved = (): void => {
            for (const w of waits) {
              if (w.resolved === undefined) continue;
              expect(w.resolved).toBeGreaterThan(w.newerThan);
              expect(w.resolved).toBeLessThanOrEqual(ch.count);
            }
          };

          for (const a of actions) {
            switch (a) {
              case "send":
                evtchnSend(g0.hypercall, peer);
                sends++;
                lastSend = ++clock;
                break;
              case "read":
                seenCount = ch.count;
                break;
              case "wait": {
                const w: Wait = { newerThan: seenCount, resolved: undefined };
                waits.push(w);
                void ch.waitFor(seenCount).then((n) => (w.resolved = n));
                break;
              }
              case "step":
                hv.step();
                break;
              case "idle":
                hv.runUntilIdle();
                break;
              case "flush":
                await flushMicrotasks();
                checkResolved();
                break;
              case "move":
                ch.bindToVcpu(ch.vcpu ^ 1);
                break;
              case "mask":
                ch.mask();
                break;
              case "unmask":
                ch.unmask();
                break;
              case "eoi":
                ch.eoi();
                break;
            }
          }
          // Release every hold, let Xen deliver what is pending, let the waits settle.
          ch.unmask();
          ch.eoi();
          await hv.settle();
          await flushMicrotasks();

          expect(dispatches).toBe(ch.count);
          expect(ch.count).toBeLessThanOrEqual(sends); // events coalesce, never multiply
          if (sends > 0)
            expect(lastDispatch).toBeGreaterThan(lastSend); // no send left unseen
          else expect(ch.count).toBe(0);
          checkResolved();
          for (const w of waits) expect(w.resolved !== undefined).toBe(ch.count > w.newerThan);
        },
      ),
      { numRuns: 200 },
    );
  });
});
