// The two-domain scenario the trace tests record: "rx" allocates an unbound port for "tx" and
// publishes it in xenstore; "tx" binds to it and, three times, writes a xenstore node and
// notifies; "rx" counts the events it is sent and writes the count.
import type { EventChannel } from "@pvkit/guest-sdk";
import { createTestHost, type TestHostOptions } from "@pvkit/toolstack/testing";
import {
  recordTrace,
  type Host,
  type TraceRecorder,
  type TraceRecorderOptions,
} from "@pvkit/toolstack";

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export interface ScenarioResult {
  readonly rec: TraceRecorder;
  readonly host: Host;
  /** Events rx's handler ran for. */
  readonly received: number;
}

/** Runs the scenario with a recorder attached from the start; the recorder is stopped at the end. */
export async function runPingScenario(
  hostOpts: TestHostOptions = {},
  recOpts: TraceRecorderOptions = {},
  sends = 3,
): Promise<ScenarioResult> {
  const t = await createTestHost(hostOpts);
  const host = t.host;
  const rec = recordTrace(host, recOpts);
  const txDomid = deferred<number>();
  const rxPort = deferred<number>();
  const txDone = deferred<void>();
  let received = 0;
  try {
    const rx = await host.createDomain({
      name: "rx",
      main: async (ctx) => {
        const peer = await txDomid.promise;
        const ch: EventChannel = ctx.events.bindUnbound(peer, { onEvent: () => void received++ });
        await ctx.xenbus.write("data/port", String(ch.port));
        rxPort.resolve(ch.port);
        await txDone.promise;
        await ctx.xenbus.write("data/count", String(received));
        ch.close();
      },
    });
    const tx = await host.createDomain({
      name: "tx",
      main: async (ctx) => {
        const port = await rxPort.promise;
        const ch = ctx.events.bindInterdomain(rx.domid, port);
        for (let i = 0; i < sends; i++) {
          await ctx.xenbus.write("data/i", String(i));
          ch.notify();
        }
        await ctx.xenbus.read("data/i");
        ch.close();
        txDone.resolve();
      },
    });
    txDomid.resolve(tx.domid);
    await host.until(Promise.all([rx.done, tx.done]), "rx and tx finishing");
    rec.stop();
  } finally {
    rec.stop();
    await t.finish();
  }
  return { rec, host, received };
}
