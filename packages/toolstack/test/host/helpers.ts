// Test fixtures for the host: a dom0 xenstore client that collects watch events as xenstored
// queues them, and a dom0 backend stub that answers the toolstack's Closing with Closed.
import type { Hypervisor } from "@pvkit/hypervisor-sim";
import type { Host, WatchEvent, XsLocalClient } from "@pvkit/toolstack";

/** A dom0 client whose watch events land in `events` as soon as xenstored queues them. */
export function watcher(host: Host): {
  client: XsLocalClient;
  events: WatchEvent[];
  close(): void;
} {
  const client = host.openXenstore();
  const events: WatchEvent[] = [];
  const pull = (): void => {
    for (const e of client.pollEvents()) events.push(e);
  };
  client.conn.on("output", () => queueMicrotask(pull));
  return {
    client,
    events,
    close: () => {
      pull();
      client.conn.close();
    },
  };
}

/** Every value `path` takes (read on each watch event from a dom0 client), in order. */
export function recordWrites(
  host: Host,
  path: string,
): { values: (string | undefined)[]; stop(): void } {
  const client = host.openXenstore();
  const values: (string | undefined)[] = [];
  client.conn.on("output", () =>
    queueMicrotask(() => {
      if (client.conn.closed) return;
      for (const e of client.pollEvents())
        if (e.path === path) values.push(readOrUndefined(client, path));
    }),
  );
  client.watch(path, "rec");
  for (const e of client.takeEvents())
    if (e.path === path) values.push(readOrUndefined(client, path));
  return {
    values,
    stop: () => {
      client.unwatch(path, "rec");
      client.conn.close();
    },
  };
}

export function readOrUndefined(c: XsLocalClient, path: string): string | undefined {
  try {
    return c.readString(path);
  } catch {
    return undefined;
  }
}

/**
 * A dom0 backend that sees the toolstack's Closing on its `state` and, `delayNs` of virtual time
 * later, writes Closed (as blkback does once it has disconnected). `seen` records what it saw.
 */
export function closingBackend(host: Host, hv: Hypervisor, backendDir: string, delayNs: number) {
  const c = host.openXenstore();
  const seen: string[] = [];
  let done = false;
  const onOutput = (): void =>
    queueMicrotask(() => {
      for (const e of c.pollEvents()) {
        if (done || e.path !== `${backendDir}/state`) continue;
        const state = readOrUndefined(c, e.path);
        seen.push(`state=${state} online=${readOrUndefined(c, `${backendDir}/online`)}`);
        if (state === "5") {
          done = true;
          hv.scheduler.at(hv.now + delayNs, () => {
            c.write(`${backendDir}/state`, "6");
            c.unwatch(`${backendDir}/state`, "be");
            c.conn.close();
          });
        }
      }
    });
  c.conn.on("output", onOutput);
  c.watch(`${backendDir}/state`, "be");
  return { seen };
}

/** Node paths of the store under `prefix` (itself included). */
export function pathsUnder(host: Host, prefix: string): string[] {
  return host.xenstored.paths().filter((p) => p === prefix || p.startsWith(`${prefix}/`));
}

/** The permission list of `path` as xenstore-ls -p / GET_PERMS strings. */
export function perms(c: XsLocalClient, path: string): string[] {
  return c.getPerms(path);
}
