/**
 * The boot storm: N domUs, each with a vbd (memory storage, served by blkback in dom0) and its
 * console 0 (served by xenconsoled), booted all at once; the run ends when every domU's
 * blkfront has its disk Connected. Reports the wall time from the first createDomain to the
 * last Connected and the memory each idle domain costs: (heap used, RSS) after − before,
 * divided by N, both measured after a full GC (node --expose-gc) once every domain is idle.
 * Beside the wall time, the process's CPU time over the same span (`process.cpuUsage`, user +
 * system): the steadier figure on a shared machine.
 */
import { readFileSync } from "node:fs";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { LocalXenbusTransport, createHost } from "@pvkit/toolstack";
import { Blkfront, type BlkfrontDisk, serveBlkback } from "@pvkit/split-drivers";

export interface StormResult {
  domains: number;
  /** Wall time from the first createDomain to the last disk Connected, ms. */
  ms: number;
  /** Process CPU time (user + system, `process.cpuUsage`) over the same span, ms. */
  cpuMs: number;
  /**
   * The main thread's own CPU time over the same span, ms (Linux `/proc/self/task/<pid>/stat`,
   * 10 ms ticks; undefined elsewhere): without V8's concurrent GC and compiler threads.
   */
  mainThreadCpuMs: number | undefined;
  /** Heap used and RSS per idle domain, bytes. */
  heapPerDomain: number;
  rssPerDomain: number;
}

const XVDA = 51712;

/** The main thread's user + system CPU time in ms, or undefined without Linux's /proc. */
function mainThreadCpu(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "latin1");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error("the boot storm needs node --expose-gc");
  g();
  g();
}

export async function bootStorm(n: number): Promise<StormResult> {
  const h = await createHost({ dom0Memory: 64 });
  const xs = LocalXenbusTransport.open(h);
  const served = serveBlkback(h, { xs });
  await h.hv.settle();
  gc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const mc0 = mainThreadCpu();
  const disks: Promise<BlkfrontDisk>[] = [];
  const created: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    let got!: (d: Promise<BlkfrontDisk>) => void;
    const disk = new Promise<Promise<BlkfrontDisk>>((r) => (got = r));
    disks.push(disk.then((d) => d));
    created.push(
      h.createDomain({
        name: `storm-${i}`,
        memory: 4,
        devices: [{ kind: "vbd", vdev: "xvda", params: "memory:1048576" }],
        main: (ctx) => {
          const bus = new XenbusBus(
            driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }),
          );
          got(Blkfront.register(bus).disk(XVDA));
        },
      }),
    );
  }
  await h.until(Promise.all(created), `${n} domains created`);
  const all = await h.until(Promise.all(disks), `${n} disks Connected`);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const mc1 = mainThreadCpu();
  if (all.length !== n || all.some((d) => d.state !== "connected"))
    throw new Error("a disk is not connected");
  await h.hv.settle();
  gc();
  const m1 = process.memoryUsage();
  const r = {
    domains: n,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    mainThreadCpuMs: mc0 === undefined || mc1 === undefined ? undefined : mc1 - mc0,
    heapPerDomain: (m1.heapUsed - m0.heapUsed) / n,
    rssPerDomain: (m1.rss - m0.rss) / n,
  };
  void served;
  return r;
}
