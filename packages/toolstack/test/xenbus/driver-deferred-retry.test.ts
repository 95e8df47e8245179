// Deferred grant ends (XSA-396) retried on a timer, as Linux's grant-table.c does with
// deferred_timer (gnttab_add_deferred arms it for jiffies + HZ; gnttab_handle_deferred re-arms it
// while the list is not empty): a ring grant the backend still maps when the frontend's driver
// unregisters is ended within a second of the backend unmapping it, with nothing else happening.
import { describe, expect, it } from "vitest";
import {
  DEFERRED_RETRY_INTERVAL_NS,
  DEFERRED_RETRY_MAX_IDLE,
  GuestTimers,
  driverEnv,
} from "@pvkit/guest-sdk";
import { LocalXenbusTransport } from "@pvkit/toolstack";
import { useHost } from "@pvkit/toolstack/testing";
import { type Log, S, TYPE, readNode, tdevGuest, teardown } from "./helpers.js";

const SECOND = 1_000_000_000;

/** A guest whose tdev frontend unregistered against a raw dom0 backend that keeps its ring mapped. */
async function unregisteredWhileMapped(h: ReturnType<ReturnType<typeof useHost>>) {
  const log: Log = [];
  const { dom, reg } = await tdevGuest(h, log);
  const xs = LocalXenbusTransport.open(h);
  const env = driverEnv({ guest: h.dom0.guest, events: h.dom0.events, xs });
  const be = `backend/${TYPE}/${dom.domid}/0`;
  const fe = `/local/domain/${dom.domid}/device/${TYPE}/0`;
  await h.until(xs.write(`${be}/state`, String(S.XenbusStateInitWait)), "InitWait");
  const dev = await h.until(reg.waitFor(0, S.XenbusStateInitialised), "the frontend Initialised");
  const map = env.mapper.mapOne(
    Number(await h.until(xs.read(`${fe}/ring-ref`), "ring-ref")),
    dom.domid,
  );
  const ch = env.events.bindInterdomain(
    dom.domid,
    Number(await h.until(xs.read(`${fe}/event-channel`), "event-channel")),
  );
  await h.until(xs.write(`${be}/state`, String(S.XenbusStateConnected)), "Connected");
  await h.until(reg.connected(0), "the frontend connected");
  const ref = Number(readNode(h, `${fe}/ring-ref`));
  await h.until(reg.unregister(), "the unregister (5 s against a backend that never closes)");
  const grants = dev.env.grants;
  expect(grants.isGranted(ref)).toBe(true); // deferred: dom0 still maps it
  expect(grants.deferred).toBe(1);
  /** Resolves `ns` of virtual time from now (a dom0 timer: the guest's own stay untouched). */
  const wait = (ns: number): Promise<void> =>
    h.until(
      new Promise<void>((r) => GuestTimers.of(h.dom0.guest, h.dom0.events).after(ns, r)),
      `${ns} ns`,
    );
  const unmap = (): void => {
    ch.close();
    map.unmap();
  };
  return { dom, dev, grants, ref, wait, unmap, close: () => xs.close() };
}

describe("xenbus driver framework: deferred grant ends retried on a timer", () => {
  const host = useHost();

  it("ends a ring grant the backend unmaps 3.5 s after the frontend unregistered at the next 1 s retry, with no other event", async () => {
    const h = host();
    const r = await unregisteredWhileMapped(h);
    expect(DEFERRED_RETRY_INTERVAL_NS).toBe(SECOND);
    const t1 = h.hv.now;
    let endedAt: number | undefined;
    r.grants.onDeferredDrained(() => (endedAt ??= h.hv.now));
    await r.wait(3.5 * SECOND);
    expect(r.grants.isGranted(r.ref)).toBe(true); // retries at 1, 2 and 3 s found it mapped
    r.unmap();
    await h.hv.settle();
    expect(r.grants.isGranted(r.ref)).toBe(true); // nothing retries without the timer
    await r.wait(0.5 * SECOND);
    await h.hv.settle();
    expect(r.grants.isGranted(r.ref)).toBe(false);
    expect(endedAt! - t1).toBe(4 * SECOND);
    expect([r.grants.deferred, r.grants.leaked, r.grants.quarantinedPages]).toEqual([0, 0, 0]);
    expect(GuestTimers.of(r.dev.env.guest).pending).toBe(0); // the retry timer stopped: no VIRQ port held
    r.close();
    // No ring-grant-not-ended finding either: the grant was ended without anyone's help.
    await teardown(h, [], [], { allowErrors: true }); // no leak in the guest nor dom0
  });

  it("stops retrying after 60 retries in a row that end nothing, leaving the grant deferred for the next grant operation", async () => {
    const h = host();
    const r = await unregisteredWhileMapped(h);
    const timers = GuestTimers.of(r.dev.env.guest);
    expect(timers.pending).toBe(1);
    await r.wait(DEFERRED_RETRY_MAX_IDLE * SECOND);
    await h.hv.settle();
    expect(timers.pending).toBe(0);
    expect(r.grants.deferred).toBe(1); // still mapped: neither ended nor given up
    r.unmap();
    await r.wait(2 * SECOND);
    expect(r.grants.isGranted(r.ref)).toBe(true); // no timer any more
    expect(r.grants.retryDeferred()).toBe(1);
    expect(r.grants.isGranted(r.ref)).toBe(false);
    r.close();
    await teardown(h, [], [], { allowErrors: true });
  });
});
