// The frontend walk against backends that skip or park in states (io/blkif.h: "feature-capable
// drivers must tolerate these additional state transition paths"), each its own peer.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import {
  type Log,
  type OddBackend,
  S,
  TYPE,
  readNode,
  scriptedBackend,
  tdevGuest,
  teardown,
} from "./helpers.js";

describe("xenbus driver framework: frontend against odd backends", () => {
  const host = useHost();

  const cases: [OddBackend, string][] = [
    ["straight-to-connected", "goes straight to Connected (no InitWait; Konrad's blkfront crash)"],
    ["never-initwait", "never writes InitWait (MirageOS's blkback)"],
    ["parked-initialised", "waits in Initialised (FreeBSD rS334027)"],
  ];
  for (const [mode, what] of cases) {
    it(`connects when the backend ${what}`, async () => {
      const h = host();
      const log: Log = [];
      const { dom, bus, reg } = await tdevGuest(h, log);
      const be = scriptedBackend(h, dom.domid, mode);
      const t0 = h.hv.now;
      const fe = await h.until(
        reg.connected(0),
        `the frontend reaching Connected against a backend that ${what}`,
      );
      expect(log).toEqual(["fe:initialise 0", "fe:connect 0 feature-x=0"]);
      expect(fe.state).toBe(S.XenbusStateConnected);
      expect(readNode(h, `/local/domain/${dom.domid}/device/${TYPE}/0/state`)).toBe("4");
      // Only the backend that never leaves Initialising costs the frontend its InitWait timeout.
      expect(h.hv.now - t0).toBe(mode === "never-initwait" ? 100_000_000 : 0);
      await teardown(h, [bus]);
      expect(readNode(h, `/local/domain/0/backend/${TYPE}/${dom.domid}/0/state`)).toBe("6");
      be.close();
    });
  }
});
