// I/O through the real pair with the data verified, at every negotiated ring order (0..4), queue
// count (1, 2, 4) and segment limit (11: no indirect, 32, 256), on memory storage and on a real
// raw image file (its bytes checked after; there, the 15 cases that cover every pair of values). Each case runs a bounded fast-check sequence of byte
// reads and writes at random offsets and sizes against a model of the disk, then reads the whole
// disk back with many requests in flight over every queue.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { type TestHostOptions, withHost } from "@pvkit/toolstack/testing";
import {
  type BlkbackOptions,
  type BlkfrontDisk,
  type BlkfrontOptions,
  MemoryStorage,
} from "@pvkit/split-drivers";
import { type Pair, connectedPair, pattern, same, teardownPair } from "./pair.js";

const DISK = 1 << 20;
const ORDERS = [0, 1, 2, 3, 4] as const;
const QUEUES = [1, 2, 4] as const;
const SEGMENTS = [11, 32, 256] as const;

/** The options giving a segment limit: 11 with a backend that offers no indirect segments. */
function limits(
  order: number,
  queues: number,
  segs: number,
): { front: BlkfrontOptions; back: BlkbackOptions } {
  const front: BlkfrontOptions = {
    maxRingPageOrder: order,
    maxQueues: queues,
    ...(segs === 256 ? { maxIndirectSegments: 256 } : {}),
  };
  return { front, back: segs === 11 ? { maxIndirectSegments: 0 } : {} };
}

type Op = { write: boolean; pos: number; len: number; seed: number };
const op: fc.Arbitrary<Op> = fc
  .record({
    write: fc.boolean(),
    pos: fc.nat({ max: DISK - 1 }),
    len: fc.integer({ min: 1, max: 600_000 }),
    seed: fc.nat(),
  })
  .map((o) => ({ ...o, len: Math.min(o.len, DISK - o.pos) }));

/** Random byte I/O checked against `model`, then the whole disk read back concurrently. */
async function exercise(
  p: Pair,
  disk: BlkfrontDisk,
  model: Uint8Array,
  seed: number,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 4 }), async (ops) => {
      for (const o of ops) {
        if (o.write) {
          const data = pattern(o.len, o.seed);
          const w = await p.until(disk.write(data, 0, o.len, o.pos), "a byte write");
          expect(w.bytesWritten).toBe(o.len);
          model.set(data, o.pos);
        } else {
          const buf = new Uint8Array(o.len);
          const r = await p.until(disk.read(buf, 0, o.len, o.pos), "a byte read");
          expect(r.bytesRead).toBe(o.len);
          expect(same(buf, model.subarray(o.pos, o.pos + o.len))).toBe(true);
        }
      }
    }),
    { numRuns: 3, seed, endOnFailure: true },
  );
  // 32 reads of 32 KiB at once: spread over the queues, the rings kept full.
  const chunk = DISK / 32;
  const bufs = await p.until(
    Promise.all(
      Array.from({ length: 32 }, (_, i) => disk.readSectors((i * chunk) / 512, chunk / 512)),
    ),
    "the whole disk",
  );
  bufs.forEach(
    (b, i) => void expect(same(b, model.subarray(i * chunk, (i + 1) * chunk))).toBe(true),
  );
}

/** What the queues sent: every queue used; indirect requests only with a limit above 11. */
function checkShape(disk: BlkfrontDisk, order: number, queues: number, segs: number): void {
  expect([disk.features.ringPageOrder, disk.features.queues, disk.features.maxSegments]).toEqual([
    order,
    queues,
    segs,
  ]);
  expect(disk.features.maxIndirectSegments).toBe(segs === 11 ? 0 : segs);
  for (const q of disk.queues) {
    expect(q.ring.size).toBe(32 << order);
    expect(q.stats.requests).toBeGreaterThan(0);
  }
  const indirect = disk.queues.reduce((n, q) => n + q.stats.indirect, 0);
  if (segs === 11) expect(indirect).toBe(0);
  else expect(indirect).toBeGreaterThan(0);
  // The exact split is deterministic for the seeded workload: pinned per case.
  expect({ requests: disk.queues.map((q) => q.stats.requests), indirect }).toMatchSnapshot();
}

const cases = ORDERS.flatMap((order) =>
  QUEUES.flatMap((queues) => SEGMENTS.map((segs) => [order, queues, segs] as const)),
);
/** Every pair of (order, queues), (order, segments) and (queues, segments) once: 15 cases. */
const pairwise = ORDERS.flatMap((order) =>
  QUEUES.map((queues, qi) => [order, queues, SEGMENTS[(qi + order) % 3]!] as const),
);

/** Hosts without xenconsoled: no console is used here, and the matrix runs 60 hosts. */
const HOST: TestHostOptions = { xenconsoled: false };

describe("blk e2e I/O on memory storage", () => {
  it.each(cases)(
    "reads back what it wrote at ring order %i, %i queue(s), %i segments",
    async (order, queues, segs) => {
      await withHost(async (h) => {
        const storage = new MemoryStorage({ bytes: DISK });
        const p = await connectedPair(h, { storage, ...limits(order, queues, segs) });
        const model = new Uint8Array(DISK);
        await exercise(p, p.disk, model, 1000 * order + 10 * queues + segs);
        checkShape(p.disk, order, queues, segs);
        const inStorage = new Uint8Array(DISK);
        await storage.read(0, inStorage);
        expect(same(inStorage, model)).toBe(true);
        await teardownPair(p);
      }, HOST);
    },
  );
});

describe("blk e2e I/O on a raw image file", () => {
  let dir = "";
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), "pvkit-blk-e2e-"))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  // The file path goes through the vbd's own keys (type "file", params = the path), as libxl writes them.
  it.each(pairwise)(
    "leaves the written bytes in the file at ring order %i, %i queue(s), %i segments",
    async (order, queues, segs) => {
      await withHost(async (h) => {
        const path = join(dir, `disk-${order}-${queues}-${segs}.img`);
        const initial = pattern(DISK, order * 7 + queues * 3 + segs);
        await writeFile(path, initial);
        const p = await connectedPair(h, {
          vbd: { type: "file", params: path },
          ...limits(order, queues, segs),
        });
        const model = Uint8Array.from(initial);
        await exercise(p, p.disk, model, 2000 * order + 20 * queues + segs);
        checkShape(p.disk, order, queues, segs);
        await teardownPair(p);
        const file = new Uint8Array(await readFile(path));
        expect(file.length).toBe(DISK);
        expect(same(file, model)).toBe(true);
      }, HOST);
    },
  );
});
