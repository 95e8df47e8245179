/**
 * The pvkit demo host, on the embedded defaults: dom0 running xenstored, and two guests.
 *
 * - "pong" allocates an unbound event channel for "ping" and publishes the port in its own
 *   xenstore directory (`data/port`), then counts the events it receives in `data/received`;
 * - the toolstack (dom0) relays that port into ping's directory (`data/peer-port`) — guests
 *   cannot read each other's directories, exactly as on Xen;
 * - "ping" watches `data/peer-port`, binds an interdomain channel to it and sends N events.
 *
 * Every step crosses the simulated hypervisor: xenstore traffic goes over each guest's ring,
 * events through the shared_info bits and upcalls. At the end the host prints the xenstore tree
 * and tears everything down the way libxl does.
 */
import { createHost, type GuestContext, type XsLocalClient } from "@pvkit/toolstack";
import { concatMap, filter, firstValueFrom } from "rxjs";
import { SCHEDOP } from "@pvkit/hypervisor-sim/abi";

export interface DemoResult {
  pongDomid: number;
  pingDomid: number;
  /** Events pong counted. */
  received: number;
  /** The xenstore tree under /local/domain as dom0 saw it before teardown. */
  tree: string[];
}

export interface DemoOptions {
  /** Events ping sends. Default 5. */
  pings?: number;
  /** Serve xenstored on this Unix socket as well (for `XENSTORED_PATH=… xenstore-ls`). */
  socketPath?: string;
  /** Output sink. Default console.log. */
  log?: (line: string) => void;
  /** Awaited after the tree is printed and before teardown (e.g. to inspect the socket). */
  beforeTeardown?: () => Promise<void>;
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const log = opts.log ?? console.log;
  const pings = opts.pings ?? 5;
  await using host = await createHost(
    opts.socketPath !== undefined ? { socketPath: opts.socketPath } : {},
  );
  log(`host: dom0 up, xenstored running${opts.socketPath ? ` (also on ${opts.socketPath})` : ""}`);
  const xs = host.openXenstore();

  let receivedAll!: () => void;
  const allReceived = new Promise<void>((r) => (receivedAll = r));

  const pong = await host.createDomain({
    name: "pong",
    main: async ({ events, xenbus, domid, signal }: GuestContext) => {
      // ping is created right after us; wait for the toolstack to tell us its domid.
      const peer = Number(await waitForValue(xenbus, "data/peer-domid"));
      const ch = events.bindUnbound(peer);
      let count = 0;
      ch.events$.subscribe(() => {
        count++;
        void xenbus.write("data/received", String(count));
        if (count === pings) receivedAll();
      });
      await xenbus.write("data/port", String(ch.port));
      log(`pong d${domid}: allocated port ${ch.port} for d${peer}, published data/port`);
      await new Promise((r) => signal.addEventListener("abort", r));
    },
  });
  const ping = await host.createDomain({
    name: "ping",
    main: async ({ events, xenbus, domid, guest }: GuestContext) => {
      const remotePort = Number(await waitForValue(xenbus, "data/peer-port"));
      const ch = events.bindInterdomain(pong.domid, remotePort);
      log(
        `ping d${domid}: bound local port ${ch.port} to d${pong.domid}:${remotePort}; sending ${pings} events`,
      );
      for (let i = 0; i < pings; i++) {
        ch.notify();
        await guest.hypercall.sched_op(SCHEDOP.SCHEDOP_yield);
      }
    },
  });

  // The toolstack's part: tell pong who ping is, then relay pong's port to ping.
  xs.write(`/local/domain/${pong.domid}/data/peer-domid`, String(ping.domid));
  const port = await until(() => tryRead(xs, `/local/domain/${pong.domid}/data/port`));
  log(`dom0: relayed pong's port ${port} to ping`);
  xs.write(`/local/domain/${ping.domid}/data/peer-port`, port);

  // A guest whose main fails crashes its domain; surface that instead of waiting forever.
  await Promise.race([allReceived, pong.done, ping.done.then(() => allReceived)]);
  await ping.done;
  const received = Number(
    await until(() => {
      const v = tryRead(xs, `/local/domain/${pong.domid}/data/received`);
      return v === String(pings) ? v : undefined;
    }),
  );
  log(`pong: received ${received} event(s)`);

  const tree = dump(xs, "/local/domain");
  log("xenstore (dom0's view):");
  for (const line of tree) log(`  ${line}`);
  await opts.beforeTeardown?.();

  for (const d of [ping, pong]) {
    const report = await host.destroyDomain(d.domid);
    log(
      `host: destroyed d${d.domid} (${report.devices.length} device(s), ${report.timedOut.length} timed out)`,
    );
  }
  return { pongDomid: pong.domid, pingDomid: ping.domid, received, tree };
}

/** Waits for a node to exist (its watch fires with the initial event too) and returns its value. */
async function waitForValue(xenbus: GuestContext["xenbus"], path: string): Promise<string> {
  return firstValueFrom(
    xenbus.watch(path).pipe(
      concatMap(() =>
        xenbus.read(path).then(
          (v) => v,
          () => undefined,
        ),
      ),
      filter((v): v is string => v !== undefined),
    ),
  );
}

function tryRead(xs: XsLocalClient, path: string): string | undefined {
  try {
    return xs.readString(path);
  } catch {
    return undefined;
  }
}

/** Dom0's toolstack side is synchronous: yield to the event loop until `probe` has an answer. */
async function until<T>(probe: () => T | undefined): Promise<T> {
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setImmediate(r));
  }
}

function dump(xs: XsLocalClient, root: string, depth = 0): string[] {
  const out: string[] = [];
  for (const child of xs.directory(root)) {
    const path = `${root}/${child}`;
    const v = tryRead(xs, path);
    out.push(`${"  ".repeat(depth)}${child}${v !== undefined && v !== "" ? ` = "${v}"` : ""}`);
    out.push(...dump(xs, path, depth + 1));
  }
  return out;
}
