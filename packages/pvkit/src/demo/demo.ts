/**
 * `pvkit demo`: a host doing real work, watched live, traced.
 *
 * dom0 boots with xenstored, xenconsoled and blkback; the toolstack builds "demo" with console 0
 * (hvc0, start_info's page and port), an extra console (device/console/1, through the xenbus
 * driver framework) and xvda, a vbd backed by a raw image file (`type` "file": blkback opens it
 * with real file I/O, holding the virtual clock while each read or write is in flight). The
 * image is created sparse in a fresh temporary directory and removed at the end (`--keep-image`
 * keeps it and prints where).
 *
 * The guest runs blkfront: it writes a pattern (each byte a hash of its disk offset) across the
 * whole disk, flushes, reads every byte back and verifies it, and reports on hvc0 (progress on
 * hvc1). The domain is then destroyed as `xl destroy` does (blkback closes xvda), and dom0 reads
 * the image file itself and checks every byte.
 *
 * While it runs the summary shows domains, devices and their xenbus states, requests, IOPS,
 * notifications and grants in use; on a terminal it redraws in place (paced so it can be
 * watched: the pacing holds the virtual clock, as any wait on the outside world must), on a pipe
 * it prints a few plain snapshots. The trace is written and summarised, and the command exits 0
 * (1 when a byte did not match).
 */
import { mkdtemp, open, rm } from "node:fs/promises";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import {
  Blkfront,
  ConsoleFront,
  consoleFrontend,
  extraConsole,
  serveBlkback,
} from "@pvkit/split-drivers";
import {
  LocalXenbusTransport,
  chromeTraceJson,
  createHost,
  parseChromeTrace,
  recordTrace,
  summarizeTrace,
} from "@pvkit/toolstack";
import type { Out } from "../cli/output.js";
import { checkTracePath, pvkitCommand } from "../cli/output.js";
import { CliError } from "../cli/cli-error.js";
import { formatBytes } from "../host/disks.js";
import { LiveView, summaryLines } from "./live-view.js";
import { checkImageFile, countMismatches, fillPattern } from "./pattern.js";

/** xvda's devid (xen-vbd-interface(7): 202 << 8). */
const XVDA = 51712;
/** Progress steps of each phase (write, read back). */
const STEPS = 8;
/** Bytes per blkfront write/read call (several in flight per step). */
const CHUNK = 64 * 1024;

export interface DemoOptions {
  /** Trace file. */
  readonly trace: string;
  /** Disk size, MiB. Default 4. */
  readonly diskMib?: number;
  /** Keep the image file (and its temporary directory) instead of removing it. */
  readonly keepImage?: boolean;
  /** Real ms per progress step on a terminal, so the summary can be watched. Default 60; 0 off. */
  readonly paceMs?: number;
}

/** What the guest found, reported to dom0 when it is done. */
interface GuestResult {
  readonly diskBytes: number;
  readonly sectorSize: number;
  readonly written: number;
  readonly verified: number;
  readonly mismatches: number;
  readonly first: number | undefined;
}

function progressBar(done: number, total: number): string {
  const w = 20;
  const n = Math.round((w * done) / total);
  return `[${"#".repeat(n)}${"-".repeat(w - n)}] ${done}/${total}`;
}

export async function demo(opts: DemoOptions, out: Out): Promise<void> {
  const tracePath = checkTracePath(opts.trace);
  const diskBytes = (opts.diskMib ?? 4) * 1024 * 1024;
  const pace = out.tty ? (opts.paceMs ?? 60) : 0;
  const dir = await mkdtemp(join(tmpdir(), "pvkit-demo-"));
  const image = join(dir, "disk.img");
  {
    const fh = await open(image, "wx");
    await fh.truncate(diskBytes);
    await fh.close();
  }
  let ok = false;
  try {
    ok = await run(image, diskBytes, pace, tracePath, out);
  } finally {
    if (opts.keepImage === true) out.line(`image kept: ${image}`);
    else {
      await rm(dir, { recursive: true, force: true });
      out.line(`image removed: ${image} (--keep-image keeps it)`);
    }
  }
  if (!ok) throw new CliError("pvkit demo: FAILED: the disk's bytes did not match the pattern");
  out.line("pvkit demo: ok");
}

async function run(
  image: string,
  diskBytes: number,
  pace: number,
  tracePath: string,
  out: Out,
): Promise<boolean> {
  let lastLine = "";
  let partial = "";
  const guestOut = new Writable({
    write(chunk: Buffer, _enc, cb) {
      partial += chunk.toString("latin1");
      const lines = partial.split(/\r?\n/);
      partial = lines.pop() ?? "";
      for (const l of lines) if (l.trim() !== "") lastLine = l.trim();
      cb();
    },
  });
  out.line(
    "pvkit demo: booting dom0 (xenstored, xenconsoled, blkback) and a guest with two consoles and a disk",
  );
  out.line(
    `  xvda: raw image ${image}, ${formatBytes(diskBytes)}, created sparse in a temporary directory`,
  );
  await using host = await createHost({ xenconsoled: { pty: false, stdout: guestOut } });
  using rec = recordTrace(host);
  const xs = host.openXenstore();
  const blkXs = LocalXenbusTransport.open(host);
  const blkback = serveBlkback(host, { xs: blkXs });
  const view = new LiveView(out);
  const wallStart = performance.now();
  let domid = -1;
  let lastRequests = { requests: 0, reads: 0, writes: 0, flushes: 0 };
  const requests = (): typeof lastRequests => {
    const queues = blkback.device(domid, XVDA)?.data?.queues;
    if (queues !== undefined) {
      const s = { requests: 0, reads: 0, writes: 0, flushes: 0 };
      for (const q of queues) {
        s.requests += q.stats.requests;
        s.reads += q.stats.reads;
        s.writes += q.stats.writes;
        s.flushes += q.stats.flushes;
      }
      lastRequests = s;
    }
    return lastRequests;
  };
  const show = (progress: string, force = false): void => {
    const r = requests();
    const secs = (performance.now() - wallStart) / 1000;
    const disk = [
      `${r.requests} blkif requests (${r.writes} writes, ${r.reads} reads, ${r.flushes} flushes)`,
      // Virtual time jumps only to timers; this workload sets none, so it stays at 0 ns and a
      // rate per virtual second would mean nothing: the rate is per real second, and says so.
      `${secs > 0 ? Math.round(r.requests / secs) : 0}/s of real (wall-clock) time${host.hv.now === 0 ? "; virtual time is still 0 ns" : ""}`,
    ];
    view.draw(summaryLines(host, xs, rec, progress, lastLine, disk), force);
  };

  // Each progress step of the guest waits here: dom0 redraws (and, on a terminal, paces,
  // holding the virtual clock for the real wait).
  const phases = { write: 0, read: 0 };
  const step = async (phase: "write" | "read"): Promise<void> => {
    phases[phase]++;
    show(
      `${phase === "write" ? "writing the pattern   " : "reading back, verifying"} ${progressBar(phases[phase], STEPS)}`,
      !out.tty && phases[phase] === STEPS,
    );
    if (pace > 0) {
      const hold = host.hv.scheduler.hold("pvkit demo: pacing the live view in real time");
      await new Promise((r) => setTimeout(r, pace));
      hold.release();
    }
  };

  let started!: (s: { report: Promise<GuestResult> }) => void;
  const guestStarted = new Promise<{ report: Promise<GuestResult> }>((r) => (started = r));
  const d = await host.createDomain({
    name: "demo",
    memory: 16,
    devices: [
      { kind: "console", devid: 1 },
      { kind: "vbd", vdev: "xvda", type: "file", params: image, mode: "w" },
    ],
    main: async (ctx) => {
      domid = ctx.domid;
      const work = (async (): Promise<GuestResult> => {
        using hvc0 = ConsoleFront.open(ctx);
        const bus = new XenbusBus(
          driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }),
        );
        const cons = bus.registerFrontend(consoleFrontend());
        const blk = Blkfront.register(bus);
        const hvc1 = extraConsole(await cons.connected(1));
        const disk = await blk.disk(XVDA);
        await hvc0.write(
          `demo guest d${ctx.domid}: hvc0, hvc1 and xvda up (${disk.size} bytes, ${disk.sectorSize}-byte sectors)\r\n`,
        );
        const per = disk.size / STEPS;
        let written = 0;
        for (let s = 0; s < STEPS; s++) {
          const writes: Promise<void>[] = [];
          for (let at = s * per; at < (s + 1) * per; at += CHUNK) {
            const len = Math.min(CHUNK, (s + 1) * per - at);
            writes.push(
              disk.writeSectors(at / disk.sectorSize, fillPattern(new Uint8Array(len), at)),
            );
            written += len;
          }
          await Promise.all(writes);
          await hvc1.write(`log: wrote ${written} of ${disk.size} bytes\r\n`);
          await step("write");
        }
        await disk.flush();
        await hvc0.write(
          `demo guest: pattern written across xvda and flushed; reading it back\r\n`,
        );
        let verified = 0;
        let mismatches = 0;
        let first: number | undefined;
        for (let s = 0; s < STEPS; s++) {
          const reads: Promise<void>[] = [];
          for (let at = s * per; at < (s + 1) * per; at += CHUNK) {
            const len = Math.min(CHUNK, (s + 1) * per - at);
            reads.push(
              disk.readSectors(at / disk.sectorSize, len / disk.sectorSize).then((buf) => {
                const m = countMismatches(buf, at);
                mismatches += m.count;
                if (m.first !== undefined && (first === undefined || m.first < first))
                  first = m.first;
                verified += buf.length;
              }),
            );
          }
          await Promise.all(reads);
          await hvc1.write(`log: verified ${verified} of ${disk.size} bytes\r\n`);
          await step("read");
        }
        await hvc0.write(
          mismatches === 0
            ? `demo guest: pattern verified, ${verified} bytes read back, all match\r\n`
            : `demo guest: ${mismatches} bytes differ, first at ${first}\r\n`,
        );
        return {
          diskBytes: disk.size,
          sectorSize: disk.sectorSize,
          written,
          verified,
          mismatches,
          first,
        };
      })();
      started({ report: work });
      await work;
    },
  });
  show("guest d1 built; blkfront and blkback connecting xvda", true);
  const { report: guestReport } = await host.until(guestStarted, "the demo guest starting");
  const g = await host.until(guestReport, "the demo guest writing and verifying its disk");
  await host.until(d.done, "the demo guest finishing");
  show("workload done; destroying the guest as xl destroy does", true);
  view.release();
  const report = await host.until(host.destroyDomain(d.domid), "destroying the demo guest");
  await host.until(blkback.close(), "blkback closing the image");
  blkXs.close();
  out.line(
    `destroyed d${report.domid} ${report.name}: ${report.devices.map((x) => `${x.kind}/${x.devid} ${x.outcome}`).join(", ")}`,
  );
  out.line(
    g.mismatches === 0
      ? `guest: pattern verified: ${g.written} bytes written across xvda, ${g.verified} read back, all match`
      : `guest: pattern NOT verified: ${g.mismatches} of ${g.verified} bytes differ (first at byte ${g.first})`,
  );
  const img = await checkImageFile(image);
  out.line(
    img.mismatches === 0 && img.fileBytes === diskBytes
      ? `dom0: image file checked: all ${img.fileBytes} bytes of ${image} hold the pattern`
      : `dom0: image file check FAILED: ${img.mismatches} of ${img.fileBytes} bytes differ (first at byte ${img.first})`,
  );
  rec.stop();
  const snap = rec.snapshot();
  writeFileSync(tracePath, chromeTraceJson(snap, { metadata: { command: "pvkit demo" } }));
  out.line("");
  out.line("trace summary:");
  for (const l of summarizeTrace(parseChromeTrace(chromeTraceJson(snap)), { top: 5 }))
    out.line(`  ${l}`);
  out.line("");
  out.line(`trace written: ${tracePath} (${snap.records.length} records)`);
  out.line(
    `open it: https://ui.perfetto.dev -> "Open trace file" (or chrome://tracing); summary again: ${pvkitCommand()} trace ${tracePath}`,
  );
  return (
    g.mismatches === 0 &&
    img.mismatches === 0 &&
    img.fileBytes === diskBytes &&
    report.timedOut.length === 0
  );
}
