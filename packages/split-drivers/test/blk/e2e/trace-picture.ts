// The blk run pictured in docs/testing.md ("Traces in Perfetto"): a test host with seed 1 and
// its sanitizer on, the real blkback (dom0) and blkfront (a guest with 2 vCPUs) over a
// MemoryStorage, three 4 KiB writes at once, then three reads of them at once, then xl's
// unplug and the leak checks. The whole run is recorded and exported as pvkit writes any trace
// (chromeTraceJson, the sequence timeline); the picture is renderTraceSvg of that same
// document, zoomed to the records the six requests made.
//
// The request tracks ("vbd 51712 queue 0 ring", "... queue 1 ring": blkfront makes one ring per
// vCPU) are the recorder's own, one lifetime per blkif request (queued, notified, consumed,
// responded, completed: ring-lifetimes.ts in the toolstack), not marks of this test.
//
// scripts/blk-trace-picture.ts writes both files to docs/img/; trace-picture.test.ts makes them
// again and fails if the committed ones differ.
import { fileURLToPath } from "node:url";
import { createTestHost } from "@pvkit/toolstack/testing";
import { chromeTraceJson, parseChromeTrace, recordTrace, renderTraceSvg } from "@pvkit/toolstack";
import { MemoryStorage } from "@pvkit/split-drivers";
import { connectedPair, pattern, same, teardownPair } from "./pair.js";

/** The committed picture and the trace it is drawn from. */
export const PICTURE_FILES = {
  svg: fileURLToPath(new URL("../../../../../docs/img/blk-trace.svg", import.meta.url)),
  json: fileURLToPath(new URL("../../../../../docs/img/blk-trace.json", import.meta.url)),
} as const;

/** The command that rewrites {@link PICTURE_FILES} (run from the repository root). */
export const PICTURE_COMMAND = "pnpm --filter @pvkit/split-drivers trace-picture";

const SEED = 1;
const REQUESTS = 3;

export interface TracePicture {
  /** The whole run's trace, as a trace file holds it. */
  readonly json: string;
  /** The picture of the requests' window. */
  readonly svg: string;
  /** The window drawn, in `ts` µs (positions in the recording). */
  readonly from: number;
  readonly to: number;
  /** Records in the whole trace, and in the window. */
  readonly records: number;
  readonly windowRecords: number;
  /** Sanitizer findings of the run (expected: none). */
  readonly findings: number;
}

/** Runs the scenario (see the file comment) and draws it. */
export async function blkTracePicture(): Promise<TracePicture> {
  const t = await createTestHost({ seed: SEED });
  if (t.sanitizer === undefined) throw new Error("the picture's run must have the sanitizer on");
  const h = t.host;
  const rec = recordTrace(h);
  let first = 0;
  let last = 0;
  try {
    const p = await connectedPair(h, { storage: new MemoryStorage({ bytes: 1 << 20 }), vcpus: 2 });
    // Let the connection's last xenstore traffic finish, so the window holds only the I/O.
    await h.hv.settle();
    first = rec.snapshot().records.length;
    const blocks = Array.from({ length: REQUESTS }, (_, i) => i * 8);
    await p.until(
      Promise.all(blocks.map((s, i) => p.disk.writeSectors(s, pattern(4096, 10 + i)))),
      "the writes",
    );
    const back = await p.until(
      Promise.all(blocks.map((s) => p.disk.readSectors(s, 8))),
      "the reads",
    );
    back.forEach((b, i) => {
      if (!same(b, pattern(4096, 10 + i))) throw new Error(`read ${i} returned other data`);
    });
    last = rec.snapshot().records.length;
    await teardownPair(p);
  } finally {
    rec.stop();
    await t.finish();
  }
  const records = rec.snapshot().records.length;
  // Record k sits at ts k; its slice lasts 0.8 µs.
  const from = first - 0.5;
  const to = last - 0.1;
  const title = `blk run, seed ${SEED}: ${REQUESTS} writes of 4 KiB, then ${REQUESTS} reads (records ${first}-${last - 1} of ${records})`;
  // The trace names the picture's window, so `pvkit trace render` can draw the same picture.
  const json = chromeTraceJson(rec.snapshot(), {
    metadata: {
      scenario: "split-drivers test/blk/e2e/trace-picture.ts",
      regenerate: PICTURE_COMMAND,
      picture_from: from,
      picture_to: to,
      picture_title: title,
    },
  });
  const svg = renderTraceSvg(parseChromeTrace(json), { from, to, title });
  return {
    json,
    svg,
    from,
    to,
    records,
    windowRecords: last - first,
    findings: t.sanitizer.findings.length,
  };
}
