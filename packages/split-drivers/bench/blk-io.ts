/**
 * blkfront ↔ blkback on one simulated host, for the benchmarks: a domU whose xvda is served by
 * blkback in dom0 on memory or a raw image file, and a guest program issuing requests through
 * `BlkfrontDisk` at a chosen queue depth. Every request goes the whole way: blkfront's bounce
 * pages (or, with `frames`, the program's own granted frames) and grants, the ring, blkback's
 * copy-then-validate, grant map (or persistent grant), the storage's own copy (memory) or
 * `FileHandle` I/O (file), the response and the completion.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { type Host, LocalXenbusTransport, createHost } from "@pvkit/toolstack";
import { Sanitizer } from "@pvkit/toolstack/testing";
import {
  Blkfront,
  type BlkfrontDisk,
  type BlkfrontFrames,
  FileStorage,
  MemoryStorage,
  type ServedBlkback,
  type Storage,
  serveBlkback,
} from "@pvkit/split-drivers";

export const XVDA = 51712;
/**
 * Disk size: BENCH_DISK_MIB (default 64 MiB, so 4 KiB random offsets spread over 16384 blocks).
 * The disk is filled with data before any run, so every read moves real bytes out of the
 * storage (a never-written part of a sparse memory disk would read as a cheap zero fill).
 */
export const DISK_BYTES = Number(process.env.BENCH_DISK_MIB ?? 64) * 1024 * 1024;

export type Backend = "memory" | "file";
export type Op = "read" | "write";

/** How `BlkBench.run` issues its calls. */
export interface RunOptions {
  readonly blockBytes?: number;
  readonly sequential?: boolean;
  readonly vectored?: boolean;
  readonly frames?: boolean;
}

export interface IoResult {
  /** Requests completed (each a `BlkfrontDisk` call). */
  requests: number;
  seconds: number;
  /** Event-channel notifications sent, both directions, during the run. */
  notifications: number;
  /** Ring requests pushed by blkfront during the run. */
  ringRequests: number;
}

export interface BlkBench {
  readonly disk: BlkfrontDisk;
  readonly storage: Storage;
  /** The sanitizer watching the host (`sanitizer: true`); its findings must stay empty. */
  readonly sanitizer: Sanitizer | undefined;
  /**
   * `qd` guest programs each issuing one `blockBytes` call after another (random block-aligned
   * offsets, or one sequential stream shared by all), until `n` calls were issued or `ms`
   * milliseconds have passed, whichever comes first. With `vectored`, one program issuing `qd`
   * calls at a time through `readv` / `writev` instead (`requests` still counts the calls).
   * With `frames`, each program's buffer is `BlkfrontFrames` (zero-copy) instead of a
   * `Uint8Array` (bounced).
   */
  run(op: Op, qd: number, limit: { n?: number; ms?: number }, opts?: RunOptions): Promise<IoResult>;
  /**
   * The floor under any read: only the storage's own copy of each 4 KiB block (the same random
   * offsets) into one of `qd` guest frames, `storage.readToPages` called straight, with no
   * driver, ring or event (memory backend only). `requests` counts the blocks copied.
   */
  copyOnly(qd: number, limit: { n?: number; ms?: number }): Promise<IoResult>;
  close(): Promise<void>;
}

/**
 * Sets up the host, the disk and blkback; checks once that data round-trips (a pattern written
 * through the disk is in the storage and reads back). `ringPageOrder` is blkfront's
 * `maxRingPageOrder` (blkback offers up to 4): 0 gives 32 slots, 2 gives 128. `poll` is
 * blkback's option (default on); `sanitizer` attaches the test host's sanitizer to the host.
 */
export async function blkBench(
  backend: Backend,
  opts: { ringPageOrder?: number; poll?: boolean; sanitizer?: boolean } = {},
): Promise<BlkBench> {
  const dir = backend === "file" ? mkdtempSync(join(tmpdir(), "pvkit-blk-bench-")) : undefined;
  const h: Host = await createHost({ xenconsoled: false, dom0Memory: 64 });
  // The test host's sanitizer (as createTestHost attaches it), watching the whole run.
  const sanitizer = opts.sanitizer ? new Sanitizer(h) : undefined;
  const storage: Storage =
    backend === "memory"
      ? new MemoryStorage({ bytes: DISK_BYTES })
      : await FileStorage.open(join(dir!, "disk.img"), {
          create: { bytes: DISK_BYTES },
          holdClock: (r) => h.hv.scheduler.hold(r),
        });
  const xs = LocalXenbusTransport.open(h);
  const served: ServedBlkback = serveBlkback(h, {
    xs,
    storage: () => storage,
    poll: opts.poll ?? true,
  });
  let started!: (b: XenbusBus) => void;
  const guestBus = new Promise<XenbusBus>((r) => (started = r));
  const dom = await h.createDomain({
    name: "bench",
    memory: 64,
    devices: [{ kind: "vbd", vdev: "xvda" }],
    main: (ctx) =>
      started(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
  });
  const bus = await h.until(guestBus, "the guest's bus");
  const blk = Blkfront.register(bus, { maxRingPageOrder: opts.ringPageOrder ?? 0 });
  const disk = await h.until(blk.disk(XVDA), "the disk connecting");
  await fill(storage);
  await h.until(verify(disk, storage), "the data check");
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed;
  };
  const notes = (): number => {
    let n = 0;
    for (const q of disk.queues) n += q.stats.notifications;
    for (const q of served.device(dom.domid, XVDA)?.data?.queues ?? []) n += q.stats.notifications;
    return n;
  };
  const pushed = (): number => disk.queues.reduce((a, q) => a + q.stats.requests, 0);
  // A program's frames are long-lived I/O buffers, as a page cache's pages: allocated once per
  // queue depth and block size and reused by every run (with persistent grants, each frame is
  // then granted once and blkback keeps it mapped).
  const frameSets = new Map<string, BlkfrontFrames[]>();
  const framesFor = (qd: number, bs: number): BlkfrontFrames[] => {
    const key = `${qd}|${bs}`;
    let set = frameSets.get(key);
    if (set === undefined) {
      set = Array.from({ length: qd }, (_, i) => {
        const f = disk.allocFrames(Math.ceil(bs / 4096));
        for (const pg of f.pages) pg.fill(i + 1);
        return f;
      });
      frameSets.set(key, set);
    }
    return set;
  };
  return {
    disk,
    storage,
    sanitizer,
    async run(op, qd, limit, opts = {}) {
      const n = limit.n ?? Number.MAX_SAFE_INTEGER;
      const bs = opts.blockBytes ?? 4096;
      const spb = bs / 512;
      const span = Math.floor(DISK_BYTES / bs);
      const bufs: readonly (Uint8Array | BlkfrontFrames)[] = opts.frames
        ? framesFor(qd, bs)
        : Array.from({ length: qd }, (_, i) => new Uint8Array(bs).fill(i + 1));
      let issued = 0;
      let next = 0;
      const n0 = notes();
      const r0 = pushed();
      const t0 = performance.now();
      const deadline = limit.ms === undefined ? Infinity : t0 + limit.ms;
      // The clock is read once per `qd` calls issued (not per call: the hand loop reads none).
      let late = false;
      const more = (): boolean => {
        if (issued >= n || late) return false;
        if (issued % qd === 0 && performance.now() >= deadline) late = true;
        return !late;
      };
      const worker = async (w: number): Promise<void> => {
        const buf = bufs[w]!;
        while (more()) {
          issued++;
          const blk = opts.sequential ? next++ % span : rnd() % span;
          if (op === "read") await disk.readSectorsInto(blk * spb, buf);
          else await disk.writeSectors(blk * spb, buf);
        }
      };
      // Vectored: one caller submitting `qd` calls at a time with readv / writev.
      const vectored = async (): Promise<void> => {
        const ios = bufs.map((buffer) => ({ sector: 0, buffer }));
        while (more()) {
          const k = Math.min(qd, n - issued);
          const batch = k === qd ? ios : ios.slice(0, k);
          for (let i = 0; i < k; i++)
            batch[i] = {
              sector: (opts.sequential ? next++ % span : rnd() % span) * spb,
              buffer: bufs[i]!,
            };
          issued += k;
          if (op === "read") await disk.readv(batch);
          else await disk.writev(batch);
        }
      };
      const all: Promise<unknown> = opts.vectored
        ? vectored()
        : Promise.all(Array.from({ length: qd }, (_, w) => worker(w)));
      await h.until(all, `${op}s at QD${qd}`);
      const seconds = (performance.now() - t0) / 1000;
      return {
        requests: issued,
        seconds,
        notifications: notes() - n0,
        ringRequests: pushed() - r0,
      };
    },
    async copyOnly(qd, limit) {
      const read = storage.readToPages?.bind(storage);
      if (read === undefined) throw new Error("copyOnly: the storage has no readToPages");
      const n = limit.n ?? Number.MAX_SAFE_INTEGER;
      const spans = framesFor(qd, 4096).map((f) => [
        { page: f.pages[0]!, offset: 0, length: 4096 },
      ]);
      const span = Math.floor(DISK_BYTES / 4096);
      const t0 = performance.now();
      const deadline = limit.ms === undefined ? Infinity : t0 + limit.ms;
      let done = 0;
      while (done < n && (done % qd !== 0 || performance.now() < deadline)) {
        read((rnd() % span) * 4096, spans[done % qd]!, 1);
        done++;
      }
      const seconds = (performance.now() - t0) / 1000;
      return { requests: done, seconds, notifications: 0, ringRequests: 0 };
    },
    async close() {
      for (const set of frameSets.values()) for (const f of set) f.release();
      if (sanitizer !== undefined) {
        if (sanitizer.findings.length > 0)
          throw new Error(
            `the sanitizer found: ${sanitizer.findings.map((f) => f.message).join("; ")}`,
          );
        sanitizer.close();
      }
      await h.until(bus.close(), "the guest bus closing");
      await h.until(served.close(), "blkback closing");
      xs.close();
      await h.close();
      await storage.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a pattern over the whole disk, straight into the storage, 1 MiB at a time. */
async function fill(storage: Storage): Promise<void> {
  const chunk = new Uint8Array(1 << 20);
  for (let at = 0; at < DISK_BYTES; at += chunk.length) {
    for (let i = 0; i < chunk.length; i += 4096) chunk.fill(((at + i) >>> 12) & 0xff, i, i + 4096);
    await storage.write(at, chunk.subarray(0, Math.min(chunk.length, DISK_BYTES - at)));
  }
}

/** A 64 KiB pattern written through the disk must be in the storage and read back the same. */
async function verify(disk: BlkfrontDisk, storage: Storage): Promise<void> {
  const data = new Uint8Array(65536);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
  const at = Math.min(12345 * 4096, DISK_BYTES - data.length);
  await disk.writeSectors(at / 512, data);
  const inStorage = new Uint8Array(data.length);
  await storage.read(at, inStorage);
  const back = await disk.readSectors(at / 512, data.length / 512);
  for (let i = 0; i < data.length; i++) {
    if (inStorage[i] !== data[i] || back[i] !== data[i])
      throw new Error(`data check failed at byte ${i}`);
  }
}
