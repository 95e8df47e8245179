// The backend walk against a frontend that skips Initialised: it writes its ring keys and
// state Connected in one transaction (MirageOS's blkfront).
import { describe, expect, it } from "vitest";
import type { GuestContext } from "@pvkit/toolstack";
import { detachDevice } from "@pvkit/toolstack";
import { useHost } from "@pvkit/toolstack/testing";
import { GrantTableClient, GuestPageAllocator } from "@pvkit/guest-sdk";
import { type Log, S, TYPE, dom0Bus, readNode, tdevBack, teardown } from "./helpers.js";

/** A frontend by hand: grant, port, then ring-ref + event-channel + state 4 in one transaction. */
function mirageFront(ctx: GuestContext): void {
  const alloc = new GuestPageAllocator(ctx.guest.memory);
  const grants = GrantTableClient.of(ctx.guest, { allocator: alloc });
  const xs = ctx.xenbus;
  const dir = `device/${TYPE}/0`;
  void (async () => {
    const backend = await xs.read(`${dir}/backend`);
    const ring = grants.grantPage(0);
    ring.page.setU32(0, 0xbeef);
    const ch = ctx.events.bindUnbound(0);
    await xs.transaction(async (tx) => {
      await tx.write(`${dir}/ring-ref`, String(ring.ref));
      await tx.write(`${dir}/event-channel`, String(ch.port));
      await tx.write(`${dir}/state`, String(S.XenbusStateConnected));
    });
    const sub = xs.watch(`${backend}/state`).subscribe({
      error: () => undefined,
      next: () =>
        void xs
          .read(`${backend}/state`)
          .catch(() => "gone")
          .then(async (v) => {
            if (v === "5" && !ch.closed) {
              ch.close();
              ring.end(); // deferred: the backend still maps it (XSA-396)
              await xs.write(`${dir}/state`, String(S.XenbusStateClosed));
            } else if (v === "6" || v === "gone") {
              grants.retryDeferred();
              sub.unsubscribe();
            }
          }),
    });
  })();
}

describe("xenbus driver framework: backend against an odd frontend", () => {
  const host = useHost();

  it("connects when the frontend writes Connected together with its ring keys, and closes on detach", async () => {
    const h = host();
    const log: Log = [];
    const d0 = dom0Bus(h);
    const back = d0.bus.registerBackend(tdevBack(log));
    const dom = await h.createDomain({
      name: "mirage",
      devices: [{ kind: TYPE, devid: 0 }],
      main: mirageFront,
    });
    const be = await h.until(back.connected(0, dom.domid), "the backend reaching Connected");
    expect(log).toEqual([
      `be:probe ${dom.domid}/0`,
      `be:connect ${dom.domid}/0 order=0 magic=beef protocol=x86_64-abi`,
    ]);
    expect(be.otherendState).toBe(S.XenbusStateConnected);
    const removal = await h.until(detachDevice(h, dom.domid, TYPE, 0), "the detach");
    expect(removal.outcome).toBe("closed");
    expect(removal.lastBackendState).toBe("6");
    expect(back.devices).toHaveLength(0);
    expect(readNode(h, `/local/domain/0/backend/${TYPE}/${dom.domid}/0`)).toBeUndefined();
    await teardown(h, [d0.bus], [d0.close]);
  });
});
