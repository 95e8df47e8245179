// Fixtures for the xenbus driver framework's end-to-end tests: a small split device ("tdev": one
// ring, one event channel, a "ping" counter the backend answers), framework buses in dom0 and
// in guests, and a teardown that unregisters every bus and checks every domain for leaks.
import type { Page } from "@pvkit/hypervisor-sim";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import {
  type BackendDriver,
  type DriverRegistration,
  type EventChannel,
  type FrontendDriver,
  XenbusBus,
  type XenbusDevice,
  driverEnv,
} from "@pvkit/guest-sdk";
import {
  type DomainHandle,
  type GuestContext,
  type Host,
  LocalXenbusTransport,
} from "@pvkit/toolstack";
import { assertNoGuestLeaks } from "@pvkit/toolstack/testing";

export const S = XenbusState;
export const TYPE = "tdev";

/** What each end of tdev keeps per device. */
export interface TdevState {
  pages: readonly Page[];
  channel: EventChannel;
}

/** Hook calls, in order: "fe:initialise 0", "be:connect 0" ... */
export type Log = string[];

/** The frontend: a ring of 2^min(order, backend max) pages, an unbound port, `protocol`. */
export function tdevFront(log: Log, opts: { order?: number } = {}): FrontendDriver<TdevState> {
  return {
    type: TYPE,
    async initialise(dev) {
      log.push(`fe:initialise ${dev.devid}`);
      const order = Math.min(opts.order ?? 0, await dev.otherInt("max-ring-page-order", 0));
      const ring = dev.grantRing(order);
      ring.pages[0]!.setU32(0, 0xfeed);
      const channel = dev.allocEvtchn();
      dev.data = { pages: ring.pages, channel };
      await dev.writeKeys({ ...ring.keys, "event-channel": channel.port, protocol: "x86_64-abi" });
    },
    async connect(dev) {
      log.push(`fe:connect ${dev.devid} feature-x=${await dev.otherInt("feature-x", 0)}`);
    },
    disconnect(dev) {
      log.push(`fe:disconnect ${dev.devid}`);
    },
  };
}

/** The backend: advertises `max-ring-page-order`, maps the ring, binds, writes `feature-x`. */
export function tdevBack(log: Log, opts: { maxOrder?: number } = {}): BackendDriver<TdevState> {
  const maxOrder = opts.maxOrder ?? 2;
  return {
    type: TYPE,
    async probe(dev) {
      log.push(`be:probe ${dev.otherendId}/${dev.devid}`);
      await dev.writeKeys({ "max-ring-page-order": maxOrder });
    },
    async connect(dev) {
      const ring = await dev.mapRing({ maxOrder });
      const channel = await dev.bindEvtchn();
      log.push(
        `be:connect ${dev.otherendId}/${dev.devid} order=${ring.order} magic=${ring.pages[0]!.getU32(0).toString(16)} protocol=${await dev.otherString("protocol", "x86_64-abi")}`,
      );
      dev.data = { pages: ring.pages, channel };
      await dev.writeKeys({ "feature-x": 7 });
    },
    disconnect(dev) {
      log.push(`be:disconnect ${dev.otherendId}/${dev.devid}`);
    },
  };
}

/** A framework bus in dom0 over a local xenstored connection. */
export function dom0Bus(host: Host): { bus: XenbusBus; close(): void } {
  const xs = LocalXenbusTransport.open(host);
  const bus = new XenbusBus(driverEnv({ guest: host.dom0.guest, events: host.dom0.events, xs }));
  return { bus, close: () => xs.close() };
}

/** A guest `main` that starts a bus and hands it out. */
export function guestBus(): { main: (ctx: GuestContext) => void; bus: Promise<XenbusBus> } {
  let resolve!: (b: XenbusBus) => void;
  const bus = new Promise<XenbusBus>((r) => (resolve = r));
  return {
    bus,
    main: (ctx) =>
      resolve(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
  };
}

/** A domU with a tdev frontend bus registered; `reg` once running. */
export async function tdevGuest(
  host: Host,
  log: Log,
  opts: {
    name?: string;
    backend?: number;
    devid?: number;
    order?: number;
    front?: FrontendDriver<TdevState>;
  } = {},
): Promise<{ dom: DomainHandle; bus: XenbusBus; reg: DriverRegistration<TdevState> }> {
  const g = guestBus();
  const dom = await host.createDomain({
    name: opts.name ?? "front",
    devices: [{ kind: TYPE, devid: opts.devid ?? 0, backend: opts.backend ?? 0 }],
    main: g.main,
  });
  const bus = await host.until(g.bus, "the guest's bus");
  const reg = bus.registerFrontend(
    opts.front ?? tdevFront(log, opts.order !== undefined ? { order: opts.order } : {}),
  );
  return { dom, bus, reg };
}

/**
 * The usual set-up: a fresh log, a dom0 bus with the tdev backend registered, and a domU with the
 * tdev frontend (`opts` as for {@link tdevGuest}).
 */
export async function tdevPair(
  host: Host,
  opts: Parameters<typeof tdevGuest>[2] = {},
): Promise<{
  log: Log;
  d0: ReturnType<typeof dom0Bus>;
  back: DriverRegistration<TdevState>;
  dom: DomainHandle;
  bus: XenbusBus;
  reg: DriverRegistration<TdevState>;
}> {
  const log: Log = [];
  const d0 = dom0Bus(host);
  const back = d0.bus.registerBackend(tdevBack(log));
  return { log, d0, back, ...(await tdevGuest(host, log, opts)) };
}

/**
 * The end of every test: unregisters `buses` (in order), checks every live domain and dom0's grant
 * table for leaks, then closes the dom0 transports. Framework errors collected by the buses fail
 * the test too (unless `allowErrors`).
 */
export async function teardown(
  host: Host,
  buses: readonly XenbusBus[],
  closers: readonly (() => void)[] = [],
  opts: { allowErrors?: boolean } = {},
): Promise<void> {
  for (const b of buses) await host.until(b.close(), "the buses unregistering");
  await host.hv.settle(); // guests finish what the last events asked of them
  assertNoGuestLeaks(host);
  for (const c of closers) c();
  if (!opts.allowErrors) {
    const errors = buses.flatMap((b) => b.errors);
    if (errors.length > 0)
      throw new Error(
        `framework errors: ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join("; ")}`,
      );
  }
}

export { readNode, writeNode } from "@pvkit/toolstack/testing";

export type { XenbusDevice };

/** How a scripted (non-framework) dom0 backend misbehaves. */
export type OddBackend = "straight-to-connected" | "never-initwait" | "parked-initialised";

/**
 * A dom0 backend for tdev written by hand on the raw transport, behaving as `mode` says: it
 * maps the ring and binds the port once the frontend is Initialised or Connected, then switches
 * to Connected (if not already); on the frontend's Closing or Closed it unmaps, unbinds and
 * writes Closed.
 */
export function scriptedBackend(
  host: Host,
  frontDomid: number,
  mode: OddBackend,
): { states: string[]; close(): void } {
  const xs = LocalXenbusTransport.open(host);
  const be = `backend/${TYPE}/${frontDomid}/0`;
  const fe = `/local/domain/${frontDomid}/device/${TYPE}/0`;
  const env = driverEnv({ guest: host.dom0.guest, events: host.dom0.events, xs });
  const states: string[] = [];
  let held: { unmap(): void; close(): void } | undefined;
  const write = (s: number): Promise<void> => xs.write(`${be}/state`, String(s));
  void (mode === "straight-to-connected"
    ? write(S.XenbusStateConnected)
    : mode === "parked-initialised"
      ? write(S.XenbusStateInitialised)
      : Promise.resolve());
  const sub = xs.watch(`${fe}/state`).subscribe({
    error: () => undefined,
    next: () => {
      void (async () => {
        const st = Number(await xs.read(`${fe}/state`).catch(() => "0"));
        states.push(String(st));
        if (
          (st === S.XenbusStateInitialised || st === S.XenbusStateConnected) &&
          held === undefined
        ) {
          const map = env.mapper.mapOne(Number(await xs.read(`${fe}/ring-ref`)), frontDomid);
          const ch = env.events.bindInterdomain(
            frontDomid,
            Number(await xs.read(`${fe}/event-channel`)),
          );
          held = { unmap: () => map.unmap(), close: () => ch.close() };
          if (mode !== "straight-to-connected") await write(S.XenbusStateConnected);
        } else if (
          (st === S.XenbusStateClosing || st === S.XenbusStateClosed) &&
          held !== undefined
        ) {
          held.close();
          held.unmap();
          held = undefined;
          await write(S.XenbusStateClosed);
        }
      })().catch(() => undefined);
    },
  });
  return {
    states,
    close: () => {
      sub.unsubscribe();
      xs.close();
    },
  };
}
