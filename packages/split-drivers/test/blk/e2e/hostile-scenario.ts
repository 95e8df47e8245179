// The blk pair with one end lying (hostilePeer of @pvkit/toolstack/testing), reused by the
// hostile-peer tests and `pnpm fuzz --hostile`: an acknowledged write, then a burst of writes
// and reads with the lies at seeded points; the honest end must survive: the guest and dom0
// running, every request settled (ok or a BlkfrontError), every write blkfront acknowledged in
// the storage, and the device unplugged cleanly afterwards (or its failure recorded).
import {
  type TestHost,
  hostilePeer,
  type CorruptionKind,
  type Corruption,
  expectFinding,
} from "@pvkit/toolstack/testing";
import { detachDevice } from "@pvkit/toolstack";
import { StallError } from "@pvkit/hypervisor-sim";
import {
  type BlkbackOptions,
  BlkfrontError,
  type BlkfrontDisk,
  MemoryStorage,
} from "@pvkit/split-drivers";
import { type Pair, XVDA, connectedPair, pattern, same } from "./pair.js";

export interface HostileRun {
  readonly corruptions: readonly Corruption[];
  /** Outcomes in issue order: "ok", "bad-data", a BlkfrontError reason, or "unexpected ...". */
  readonly outcomes: readonly string[];
  /** The first request of the wave that could not settle (the lying end stopped serving), if any. */
  readonly stalledAtWave: number | undefined;
  /** blkfront's disk state at the end of the burst. */
  readonly diskState: string;
  /** The disabling reason, if the disk was disabled. */
  readonly disabledBy: string | undefined;
  /** blkback's bus errors, as strings. */
  readonly backErrors: readonly string[];
  /** The unplug's outcome (xl's detach). */
  readonly unplug: string;
}

export interface HostileScenario {
  readonly impersonate: "frontend" | "backend";
  readonly kinds?: readonly CorruptionKind[];
  readonly count?: number;
  /** Notifications of the lying end between lies. Default [1, 8]. */
  readonly notifications?: readonly [number, number];
  readonly requests?: number;
  /** blkback's options (e.g. `poll: false`). */
  readonly back?: BlkbackOptions;
  /** Called once the disk is connected and the first write acknowledged, before the lies. */
  readonly connected?: (p: Pair & { disk: BlkfrontDisk }) => void;
}

/**
 * The findings a lie provokes by itself (the honest end's reports): allowed, not required.
 * Anything else the sanitizer finds (a stall, a leak, a stuck device) still fails.
 */
export function allowHostileFindings(t: TestHost): void {
  for (const k of [
    "ring-halted",
    "lost-wakeup",
    "unknown-response-id",
    "bad-response",
    "notify-storm",
    "unexpected-state",
  ] as const)
    expectFinding(t.host, k, 0);
}

/** Runs the scenario on `t`'s host (the caller finishes it). Throws when the honest end did not survive. */
export async function runHostile(t: TestHost, o: HostileScenario): Promise<HostileRun> {
  const h = t.host;
  const mem = new MemoryStorage({ bytes: 1 << 20 });
  const p = await connectedPair(h, {
    storage: mem,
    vcpus: 2,
    ...(o.back !== undefined ? { back: o.back } : {}),
  });
  const acked = pattern(4096, 7);
  await p.until(p.disk.writeSectors(1024, acked), "the acknowledged write");
  o.connected?.(p);
  const peer = hostilePeer(h, {
    frontDomid: p.dom.domid,
    type: "vbd",
    devid: XVDA,
    impersonate: o.impersonate,
    seed: t.seed,
    at: { notifications: o.notifications ?? [1, 8] },
    ...(o.count !== undefined ? { count: o.count } : {}),
    ...(o.kinds !== undefined ? { kinds: o.kinds } : {}),
  });
  const n = o.requests ?? 24;
  const outcome = (e: unknown): string =>
    e instanceof BlkfrontError ? e.reason : `unexpected ${String(e)}`;
  // Waves of 4 requests, so each end notifies about once per wave (many points for the lies).
  // A wave the host cannot settle (the lying end stopped serving: a halted ring, a garbage
  // event index) ends the burst; its requests must settle at the unplug ("disconnected").
  const results: Promise<string>[] = [];
  let stalled: number | undefined;
  const wave = async (w: number, mk: (i: number) => Promise<string>): Promise<boolean> => {
    const ps = Array.from({ length: Math.min(4, n - w) }, (_, k) => mk(w + k));
    results.push(...ps);
    try {
      await p.until(Promise.all(ps), "a wave of requests");
      return true;
    } catch (e) {
      if (!(e instanceof StallError)) throw e;
      stalled = w;
      return false;
    }
  };
  const writes: string[] = [];
  for (let w = 0; w < n && stalled === undefined; w += 4)
    if (
      await wave(w, (i) =>
        p.disk.writeSectors(i * 8, pattern(4096, 10 + i)).then(() => "ok", outcome),
      )
    )
      writes.push(...(await Promise.all(results.slice(w))));
  const writesIssued = results.length;
  for (let w = 0; w < n && stalled === undefined; w += 4)
    await wave(w, (i) =>
      p.disk
        .readSectors(i * 8, 8)
        .then(
          (b) =>
            writes[i] !== "ok" || o.impersonate === "backend" || same(b, pattern(4096, 10 + i))
              ? "ok"
              : "bad-data",
          outcome,
        ),
    );
  peer.stop();
  await h.hv.settle();
  if (h.hv.domainById(p.dom.domid)?.state !== "running")
    throw new Error(`the guest is ${String(h.hv.domainById(p.dom.domid)?.state)} after the lies`);
  if (h.hv.domainById(0)?.state !== "running")
    throw new Error("dom0 is not running after the lies");
  const diskState = p.disk.state;
  const disabledBy = p.disk.error?.reason;
  const removal = await p.until(detachDevice(h, p.dom.domid, "vbd", XVDA), "unplugging xvda");
  await p.until(p.bus.close(), "the guest bus closing");
  const outcomes = await p.until(Promise.all(results), "every request settling after the unplug");
  await p.until(p.served.close(), "blkback closing");
  p.xs.close();
  await h.hv.settle();
  // No acknowledged write lost: blkback is honest when the frontend lies, and when the backend
  // lies its storage still says what blkback really did.
  const got = new Uint8Array(4096);
  await mem.read(1024 * 512, got);
  if (!same(got, acked)) throw new Error("the write acknowledged before the lies is lost");
  for (let i = 0; i < writesIssued; i++) {
    if (outcomes[i] !== "ok") continue;
    await mem.read(i * 8 * 512, got);
    if (!same(got, pattern(4096, 10 + i)))
      throw new Error(`acknowledged write ${i} is not in the storage`);
  }
  const bad = outcomes.find((x) => x.startsWith("unexpected") || x === "bad-data");
  if (bad !== undefined) throw new Error(`a request settled as ${bad}`);
  return {
    corruptions: peer.corruptions,
    outcomes,
    stalledAtWave: stalled,
    diskState,
    disabledBy,
    backErrors: p.served.bus.errors.map(String),
    unplug: removal.outcome,
  };
}
