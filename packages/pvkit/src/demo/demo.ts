/**
 * `pvkit demo`: a host doing real work, watched live, traced.
 *
 * dom0 boots with xenstored and xenconsoled; the toolstack builds "demo" with console 0 (hvc0,
 * start_info's page and port) and an extra console (device/console/1, connected through the
 * xenbus driver framework: both ends walk to Connected). Then dom0 and the guest talk:
 * for each step dom0 writes `data/step` in the guest's xenstore home, the guest (watching it)
 * prints a line on hvc0 and a log line on hvc1 and acknowledges in `data/done`. Every step
 * crosses the simulated hypervisor: xenstore ring traffic, event-channel notifications, the
 * console rings xenconsoled maps through grant ref 0 and the guest's granted page.
 *
 * While it runs the summary shows domains, devices and their xenbus states, requests,
 * notifications and grants; at the end the domain is destroyed as `xl destroy` does, the trace
 * is written and summarised, and the command exits 0. Disks join once blkback lands.
 */
import { writeFileSync } from "node:fs";
import { Writable } from "node:stream";
import { concatMap, filter, firstValueFrom } from "rxjs";
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { ConsoleFront, consoleFrontend, extraConsole } from "@pvkit/split-drivers";
import { chromeTraceJson, createHost, parseChromeTrace, recordTrace, summarizeTrace, type GuestContext } from "@pvkit/toolstack";
import type { Out } from "../cli/output.js";
import { checkTracePath } from "../cli/output.js";
import { LiveView, summaryLines } from "./live-view.js";

export interface DemoOptions {
  /** Trace file. */
  readonly trace: string;
  /** Steps (console messages). Default 8. */
  readonly messages?: number;
  /** Real ms between steps on a terminal, so the summary can be watched. Default 120; 0 off. */
  readonly paceMs?: number;
}

/** Waits for `path` to hold a value other than `not` (its watch also fires at once). */
function waitFor(xenbus: GuestContext["xenbus"], path: string, not?: string): Promise<string> {
  return firstValueFrom(
    xenbus.watch(path).pipe(
      concatMap(() => xenbus.read(path).then((v) => v, () => undefined)),
      filter((v): v is string => v !== undefined && v !== not),
    ),
  );
}

function progressBar(done: number, total: number): string {
  const w = 20;
  const n = Math.round((w * done) / total);
  return `[${"#".repeat(n)}${"-".repeat(w - n)}] ${done}/${total}`;
}

export async function demo(opts: DemoOptions, out: Out): Promise<void> {
  const tracePath = checkTracePath(opts.trace);
  const steps = opts.messages ?? 8;
  const pace = out.tty ? (opts.paceMs ?? 120) : 0;
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
  out.line("pvkit demo: booting dom0 (xenstored, xenconsoled) and a guest with two consoles");
  await using host = await createHost({ xenconsoled: { pty: false, stdout: guestOut } });
  using rec = recordTrace(host);
  const xs = host.openXenstore();
  const view = new LiveView(out);
  const show = (progress: string, force = false): void => view.draw(summaryLines(host, xs, rec, progress, lastLine), force);

  const d = await host.createDomain({
    name: "demo",
    memory: 16,
    devices: [{ kind: "console", devid: 1 }],
    main: async (ctx) => {
      using hvc0 = ConsoleFront.open(ctx);
      const bus = new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }));
      const reg = bus.registerFrontend(consoleFrontend());
      const hvc1 = extraConsole(await reg.connected(1));
      await hvc0.write(`demo guest d${ctx.domid}: hvc0 and hvc1 up\r\n`);
      let last = "0";
      for (let i = 1; i <= steps; i++) {
        last = await waitFor(ctx.xenbus, "data/step", last);
        await hvc0.write(`message ${last}/${steps} from the guest on hvc0\r\n`);
        await hvc1.write(`log: step ${last} acknowledged\r\n`);
        await ctx.xenbus.write("data/done", last);
      }
      await hvc0.write("demo guest: all messages sent, bye\r\n");
      await reg.unregister();
    },
  });
  show("guest d1 built, connecting consoles", true);
  const doneKey = `/local/domain/${d.domid}/data/done`;
  const readDone = (): string | undefined => {
    try {
      return xs.readString(doneKey);
    } catch {
      return undefined;
    }
  };
  // The host's own virtual-time loop pumps the guest; dom0's side yields to it.
  const until = async (probe: () => boolean): Promise<void> => {
    while (!probe()) {
      await Promise.race([d.done, new Promise((r) => setImmediate(r))]);
      if (probe()) return;
      await new Promise((r) => setImmediate(r));
    }
  };
  for (let i = 1; i <= steps; i++) {
    xs.write(`/local/domain/${d.domid}/data/step`, String(i));
    await until(() => readDone() === String(i));
    show(`console messages ${progressBar(i, steps)}`, i === steps || !out.tty && i === 1);
    if (pace > 0) await new Promise((r) => setTimeout(r, pace));
  }
  await d.done;
  await host.hv.settle();
  show("workload done; destroying the guest as xl destroy does", true);
  view.release();
  const report = await host.destroyDomain(d.domid);
  out.line(`destroyed d${report.domid} ${report.name}: ${report.devices.map((x) => `${x.kind}/${x.devid} ${x.outcome}`).join(", ")}`);
  rec.stop();
  const snap = rec.snapshot();
  writeFileSync(tracePath, chromeTraceJson(snap, { metadata: { command: "pvkit demo" } }));
  out.line("");
  out.line("trace summary:");
  for (const l of summarizeTrace(parseChromeTrace(chromeTraceJson(snap)), { top: 5 })) out.line(`  ${l}`);
  out.line("");
  out.line(`trace written: ${tracePath} (${snap.records.length} records)`);
  out.line(`open it: https://ui.perfetto.dev -> "Open trace file" (or chrome://tracing); summary again: pvkit trace ${tracePath}`);
  out.line("pvkit demo: ok");
}
