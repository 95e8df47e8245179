// The blkfront test rig: a domU with one vbd (xvda) and a blkfront on its bus, the raw blkback
// of raw-blkback.ts in dom0, and a teardown that unplugs as xl does and checks every domain for
// leaks.
import { expect } from "vitest";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { type DomainHandle, type Host, detachDevice } from "@pvkit/toolstack";
import { assertNoGuestLeaks } from "@pvkit/toolstack/testing";
import { Blkfront, type BlkfrontDisk, type BlkfrontOptions } from "@pvkit/split-drivers";
import { RawBlkback, type RawBackOptions } from "./raw-blkback.js";

export const XVDA = 51712;

export interface Rig {
  readonly h: Host;
  readonly dom: DomainHandle;
  readonly bus: XenbusBus;
  readonly blk: Blkfront;
  readonly be: RawBlkback;
  /** Awaits `p` under the host's virtual time. */
  until<T>(p: Promise<T>, what?: string): Promise<T>;
}

/** A guest with xvda, its blkfront registered, and the raw backend (not yet connected). */
export async function rig(
  h: Host,
  opts: {
    front?: BlkfrontOptions;
    back?: RawBackOptions;
    vcpus?: number;
    memory?: number;
    mode?: "w" | "r";
  } = {},
): Promise<Rig> {
  let started!: (b: XenbusBus) => void;
  const guestBus = new Promise<XenbusBus>((r) => (started = r));
  const dom = await h.createDomain({
    name: "blk-user",
    memory: opts.memory ?? 16,
    vcpus: opts.vcpus ?? 1,
    devices: [{ kind: "vbd", vdev: "xvda", mode: opts.mode ?? "w" }],
    main: (ctx) =>
      started(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
  });
  const bus = await h.until(guestBus, "the guest's bus");
  const be = new RawBlkback(h, dom.domid, XVDA, opts.back);
  const blk = Blkfront.register(bus, opts.front);
  return { h, dom, bus, blk, be, until: (p, what = "blkfront") => h.until(p, what) };
}

/** A rig whose disk is connected. */
export async function connected(
  h: Host,
  opts: Parameters<typeof rig>[1] = {},
): Promise<Rig & { disk: BlkfrontDisk }> {
  const r = await rig(h, opts);
  const disk = await r.until(r.blk.disk(XVDA), "the disk connecting");
  return { ...r, disk };
}

/** Unplug as xl does, unregister, settle, leak-check every domain, close the backend. */
export async function teardown(r: Rig, opts: { allowErrors?: boolean } = {}): Promise<void> {
  const removal = await r.until(detachDevice(r.h, r.dom.domid, "vbd", XVDA), "unplugging xvda");
  expect(removal.outcome).toBe("closed");
  await r.until(r.bus.close(), "the guest bus closing");
  await r.until(r.be.idle(), "the backend finishing");
  r.be.close();
  await r.h.hv.settle();
  assertNoGuestLeaks(r.h);
  if (!opts.allowErrors) {
    expect(r.bus.errors).toEqual([]);
    expect(r.be.errors).toEqual([]);
  }
}

export { readNode } from "@pvkit/toolstack/testing";

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
