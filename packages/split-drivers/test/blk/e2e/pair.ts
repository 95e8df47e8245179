// The real pair on a test host: blkback served in dom0 (serveBlkback over a LocalXenbusTransport)
// and blkfront registered on a domU's bus, with one vbd (xvda) between them; a teardown that
// unplugs as xl does, closes both buses and checks every domain for leaks.
import { expect } from "vitest";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import {
  type DomainHandle,
  type Host,
  LocalXenbusTransport,
  type VbdSpec,
  detachDevice,
} from "@pvkit/toolstack";
import { assertNoGuestLeaks } from "@pvkit/toolstack/testing";
import {
  type BlkbackOptions,
  Blkfront,
  type BlkfrontDisk,
  type BlkfrontOptions,
  type ServedBlkback,
  type Storage,
  serveBlkback,
} from "@pvkit/split-drivers";

export const XVDA = 51712;

export interface PairOptions {
  readonly front?: BlkfrontOptions;
  /** blkback's options; `storage` defaults to the vbd's keys (`params`). */
  readonly back?: BlkbackOptions;
  /** One storage for the vbd (kept across reconnects; the test closes it if it must). */
  readonly storage?: Storage;
  /** Extra vbd spec fields (mode, params, type, backendKeys). */
  readonly vbd?: Omit<VbdSpec, "kind">;
  readonly vcpus?: number;
  readonly memory?: number;
}

export interface Pair {
  readonly h: Host;
  readonly dom: DomainHandle;
  readonly bus: XenbusBus;
  readonly blk: Blkfront;
  /** blkback in dom0 (a restart replaces it). */
  served: ServedBlkback;
  xs: LocalXenbusTransport;
  /** Awaits `p` under the host's virtual time. */
  until<T>(p: Promise<T>, what?: string): Promise<T>;
}

/** dom0 serving blkback, a guest with xvda and blkfront registered (not yet awaited). */
export async function pair(h: Host, o: PairOptions = {}): Promise<Pair> {
  const { xs, served } = serve(h, o);
  let started!: (b: XenbusBus) => void;
  const guestBus = new Promise<XenbusBus>((r) => (started = r));
  const dom = await h.createDomain({
    name: "blk-e2e",
    memory: o.memory ?? 16,
    vcpus: o.vcpus ?? 4,
    devices: [{ kind: "vbd", vdev: "xvda", ...o.vbd }],
    main: (ctx) =>
      started(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
  });
  const bus = await h.until(guestBus, "the guest's bus");
  const blk = Blkfront.register(bus, o.front);
  return { h, dom, bus, blk, served, xs, until: (p, what = "blk e2e") => h.until(p, what) };
}

/** blkback served in dom0 on a new xenstore connection, as `o` says. */
export function serve(
  h: Host,
  o: Pick<PairOptions, "back" | "storage"> = {},
): { xs: LocalXenbusTransport; served: ServedBlkback } {
  const xs = LocalXenbusTransport.open(h);
  const storage = o.storage;
  const served = serveBlkback(h, {
    xs,
    ...o.back,
    ...(storage !== undefined ? { storage: () => storage } : {}),
  });
  return { xs, served };
}

/** A pair whose disk is connected. */
export async function connectedPair(
  h: Host,
  o: PairOptions = {},
): Promise<Pair & { disk: BlkfrontDisk }> {
  const p = await pair(h, o);
  const disk = await p.until(p.blk.disk(XVDA), "the disk connecting");
  return { ...p, disk };
}

/**
 * Unplugs xvda as xl does (expecting the backend to reach Closed), closes both buses, settles,
 * and checks every domain for leaks; unless `allowErrors`, neither bus recorded an error.
 */
export async function teardownPair(
  p: Pair,
  opts: { allowErrors?: boolean; unplugged?: boolean } = {},
): Promise<void> {
  if (!opts.unplugged) {
    const removal = await p.until(detachDevice(p.h, p.dom.domid, "vbd", XVDA), "unplugging xvda");
    expect(removal.outcome).toBe("closed");
  }
  await p.until(p.bus.close(), "the guest bus closing");
  await p.until(p.served.close(), "blkback closing");
  p.xs.close();
  await p.h.hv.settle();
  assertNoGuestLeaks(p.h);
  if (!opts.allowErrors) {
    expect(p.bus.errors).toEqual([]);
    expect(p.served.bus.errors).toEqual([]);
  }
}

export { readNode, writeNode } from "@pvkit/toolstack/testing";

/** Deterministic bytes. */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a >>> 24;
  }
  return out;
}

export const same = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
