// One blk scenario under fault injection, reused by the fault tests, the replay test and
// `pnpm fuzz`: dom0's blkback over a FaultyStorage, a guest's blkfront, a burst of writes and
// reads; every request's outcome (ok, or the BlkfrontError reason) recorded in order.
import type { TestHost } from "@pvkit/toolstack/testing";
import { recordTrace, chromeTraceJson } from "@pvkit/toolstack";
import {
  BlkfrontError,
  FaultyStorage,
  type FaultyStorageOptions,
  MemoryStorage,
} from "@pvkit/split-drivers";
import { XVDA, connectedPair, pattern, same, teardownPair } from "./pair.js";

export interface BlkFaultRun {
  /** Each request's outcome, in issue order: "ok", "bad-data" or a BlkfrontError reason. */
  readonly outcomes: readonly string[];
  /** Operation numbers the storage failed. */
  readonly storageFailed: readonly number[];
  /** The run's trace as Chrome/Perfetto JSON (when asked for). */
  readonly trace: string | undefined;
  /** Virtual time at the end, ns. */
  readonly endNs: number;
}

export interface BlkFaultScenario {
  /** The FaultyStorage's faults (its seed defaults to the host's). */
  readonly storage?: Omit<FaultyStorageOptions, "scheduler">;
  /** Requests in the burst (each a 4 KiB write to its own block, then a read of it). */
  readonly requests?: number;
  /** Record the trace. Default false. */
  readonly trace?: boolean;
}

/** Runs the scenario on `t`'s host (which the caller finishes). */
export async function runBlkFaults(t: TestHost, o: BlkFaultScenario = {}): Promise<BlkFaultRun> {
  const h = t.host;
  const rec = o.trace ? recordTrace(h) : undefined;
  const mem = new MemoryStorage({ bytes: 1 << 20 });
  const storage = new FaultyStorage(mem, { seed: t.seed, ...o.storage, scheduler: h.hv.scheduler });
  const p = await connectedPair(h, { storage, vcpus: 2 });
  const n = o.requests ?? 16;
  const outcome = (e: unknown): string =>
    e instanceof BlkfrontError ? e.reason : `unexpected ${String(e)}`;
  const writes = await p.until(
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        p.disk.writeSectors(i * 8, pattern(4096, 10 + i)).then(() => "ok", outcome),
      ),
    ),
    "the writes",
  );
  const reads = await p.until(
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        p.disk
          .readSectors(i * 8, 8)
          .then(
            (b) => (writes[i] !== "ok" || same(b, pattern(4096, 10 + i)) ? "ok" : "bad-data"),
            outcome,
          ),
      ),
    ),
    "the reads",
  );
  storage.heal();
  // The disk still serves after the faults: one more write and read, which must succeed.
  const last = pattern(512, 99);
  await p.until(p.disk.writeSectors(2000, last), "the write after the faults");
  const back = await p.until(p.disk.readSectors(2000, 1), "the read after the faults");
  if (!same(back, last)) throw new Error("the disk returned wrong data after the faults");
  if (p.disk.state !== "connected") throw new Error(`the disk is ${p.disk.state} after the faults`);
  void XVDA;
  await teardownPair(p, { allowErrors: true });
  const trace = rec ? chromeTraceJson(rec.snapshot()) : undefined;
  rec?.[Symbol.dispose]();
  return {
    outcomes: [...writes, ...reads],
    storageFailed: [...storage.stats.failed],
    trace,
    endNs: h.hv.scheduler.now,
  };
}
