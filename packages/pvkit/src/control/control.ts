/**
 * The control socket of a running `pvkit up`: one JSON object a line each way. A client sends a
 * request `{ op, ... }` and gets one reply `{ ok: true, ... }` or `{ ok: false, error }`, then the
 * connection closes.
 *
 * ```
 * { "op": "list" }                             -> { ok, domains: DomainInfo[] }
 * { "op": "create", "config": HostConfig }     -> { ok, domains: DomainInfo[], notes: string[] }
 * { "op": "destroy", "domain": "guest1" | "1" } -> { ok, domid, name, devices }
 * { "op": "console", "domain": ..., "num": 0 } -> { ok, domid, name, tty }
 * ```
 */
import { createServer, connect, type Server } from "node:net";
import { unlinkSync } from "node:fs";
import type { HostConfig } from "../config/load-config.js";
import { CliError } from "../cli/cli-error.js";
import { pvkitCommand } from "../cli/output.js";

/** A domain as `pvkit list` shows it. */
export interface DomainInfo {
  readonly domid: number;
  readonly name: string;
  /** MiB. */
  readonly memory: number;
  readonly vcpus: number;
  /** "running", "paused", "shutdown", "crashed", "dying". */
  readonly state: string;
  /** Console 0's pty, when it has one. */
  readonly tty: string | undefined;
  /** "<type>/<devid> <frontend state>/<backend state>" per device. */
  readonly devices: readonly string[];
}

export type ControlRequest =
  | { readonly op: "list" }
  | { readonly op: "create"; readonly config: HostConfig }
  | { readonly op: "destroy"; readonly domain: string }
  | { readonly op: "console"; readonly domain: string; readonly num: number };

export type ControlReply =
  | ({ readonly ok: true } & Record<string, unknown>)
  | { readonly ok: false; readonly error: string };

export type ControlHandler = (req: ControlRequest) => Promise<Record<string, unknown>>;

/** Serves `handler` on Unix socket `path` (which must not exist). */
export function listenControl(
  path: string,
  handler: ControlHandler,
): Promise<{ close(): Promise<void> }> {
  const server: Server = createServer((sock) => {
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("error", () => sock.destroy());
    sock.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = "";
      void (async () => {
        let reply: ControlReply;
        try {
          const req = JSON.parse(line) as ControlRequest;
          reply = { ok: true, ...(await handler(req)) };
        } catch (err) {
          reply = { ok: false, error: (err as Error).message };
        }
        sock.end(`${JSON.stringify(reply)}\n`);
      })();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve({
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            try {
              unlinkSync(path);
            } catch {
              // already gone
            }
          }),
      });
    });
  });
}

/**
 * Sends one request to the host whose control socket is `path`.
 * @throws CliError when no host answers there, or with the host's error.
 */
export function controlRequest(
  path: string,
  req: ControlRequest,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new CliError(`the host on ${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on("data", (c: string) => (buf += c));
    sock.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        err.code === "ENOENT" || err.code === "ECONNREFUSED"
          ? `no pvkit host is running there (start one with \`${pvkitCommand()} up <config>\`)`
          : err.message;
      reject(new CliError(`cannot reach the control socket ${path}: ${why}`));
    });
    sock.on("end", () => {
      clearTimeout(timer);
      try {
        const reply = JSON.parse(buf) as ControlReply;
        if (reply.ok) resolve(reply);
        else reject(new CliError(reply.error));
      } catch {
        reject(new CliError(`the host on ${path} sent a reply that is not JSON`));
      }
    });
  });
}
