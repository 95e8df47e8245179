/**
 * Domain lifecycle: domains created and destroyed per second on one host (console 0 plus one
 * vbd whose backend is already Closed, so destroy does not wait), and the time to a ready host:
 * createHost() + createDomain() until the guest's main has read its own name over its ring.
 */
import { createHost } from "@pvkit/toolstack";
import { bench, median, type BenchResult } from "./harness.js";

export async function createDestroy(): Promise<BenchResult> {
  const host = await createHost();
  const xs = host.openXenstore();
  let seq = 0;
  const r = await bench(
    "domains created + destroyed (console + 1 vbd) per second",
    async (n) => {
      for (let i = 0; i < n; i++) {
        const d = await host.createDomain({ name: `d-${seq++}`, devices: [{ kind: "vbd" }] });
        xs.write(`/local/domain/0/backend/vbd/${d.domid}/51712/state`, "6");
        await host.destroyDomain(d.domid);
      }
      return n;
    },
    { start: 10 },
  );
  xs.conn.close();
  await host.close();
  return r;
}

/** Milliseconds from nothing to dom0 + one domU whose main has done a xenstore read over its ring. */
export async function readyTimes(runs: number): Promise<{ medianMs: number; samples: number[] }> {
  const samples: number[] = [];
  for (let i = 0; i < runs + 5; i++) {
    const t0 = performance.now();
    const host = await createHost();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    await host.createDomain({
      name: "ready",
      main: async ({ xenbus }) => {
        await xenbus.read("name");
        ready();
      },
    });
    await isReady;
    const ms = performance.now() - t0;
    await host.close();
    if (i >= 5) samples.push(ms); // the first runs warm up the JIT
  }
  return { medianMs: median(samples), samples };
}
