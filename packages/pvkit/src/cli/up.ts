/**
 * `pvkit up <config>`: boots a host from a config file and keeps it up until SIGINT/SIGTERM,
 * serving xenstored on `<run-dir>/xenstored` (for Debian's `xenstore-*` tools) and the control
 * socket `<run-dir>/control` (for `pvkit list | console | destroy | create`).
 */
import { unlinkSync, writeFileSync } from "node:fs";
import { loadConfig } from "../config/load-config.js";
import { type ControlRequest, listenControl } from "../control/control.js";
import { claimRunDir, runPaths } from "../control/run-dir.js";
import { HostSession } from "../host/host-session.js";
import { CliError } from "./cli-error.js";
import { checkTracePath, type Out, pvkitCommand } from "./output.js";

export interface UpOptions {
  readonly runDir: string;
  readonly trace?: string;
  readonly pty: boolean;
}

/** Resolves when the host has been stopped (by a signal, or `stop`) and torn down. */
export async function up(
  configFile: string,
  opts: UpOptions,
  out: Out,
  stop: Promise<unknown> = stopSignal(),
): Promise<void> {
  const config = loadConfig(configFile);
  const trace = opts.trace !== undefined ? checkTracePath(opts.trace) : undefined;
  const paths = runPaths(opts.runDir);
  await claimRunDir(paths);
  let session: HostSession;
  try {
    session = await HostSession.start({
      xenstoredSocket: paths.xenstored,
      dom0Memory: config.dom0Memory,
      pty: opts.pty,
      ...(trace !== undefined ? { trace } : {}),
    });
  } catch (err) {
    throw new CliError(`cannot start the host on ${paths.xenstored}: ${(err as Error).message}`);
  }
  const control = await listenControl(paths.control, (req) => handle(session, req)).catch(
    async (err: Error) => {
      await session.close();
      throw new CliError(`cannot listen on the control socket ${paths.control}: ${err.message}`);
    },
  );
  writeFileSync(paths.pidFile, `${process.pid}\n`);
  try {
    out.line(
      `pvkit up: host up from ${config.file}: Domain-0 (${config.dom0Memory} MiB) with xenstored, xenconsoled and blkback`,
    );
    const { notes } = await session.createDomains(config);
    for (const n of notes) out.line(`  ${n}`);
    out.line(`xenstored: ${paths.xenstored}; to use the xenstore-* tools:`);
    out.line(`export XENSTORED_PATH=${paths.xenstored}`);
    out.line(
      `control: ${paths.control} (${pvkitCommand()} list | console <domain> | destroy <domain> | create <config>${opts.runDir !== undefined ? ` with --run-dir ${paths.dir}` : ""})`,
    );
    if (trace !== undefined)
      out.line(`recording a trace to ${trace} (written when the host stops)`);
    out.line("pvkit up: running; Ctrl-C stops the host");
  } catch (err) {
    await control.close();
    await session.close();
    unlinkQuiet(paths.pidFile);
    throw err;
  }
  await stop;
  out.line("pvkit up: stopping: destroying domains");
  await control.close();
  const written = await session.close();
  unlinkQuiet(paths.pidFile);
  if (written !== undefined)
    out.line(
      `trace: ${written} (open it in https://ui.perfetto.dev, or: ${pvkitCommand()} trace ${written})`,
    );
  out.line("pvkit up: host stopped");
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => resolve(sig);
    process.once("SIGINT", on("SIGINT"));
    process.once("SIGTERM", on("SIGTERM"));
    process.once("SIGHUP", on("SIGHUP"));
  });
}

async function handle(session: HostSession, req: ControlRequest): Promise<Record<string, unknown>> {
  switch (req.op) {
    case "list":
      return { domains: session.list() };
    case "create":
      return await session.createDomains(req.config);
    case "destroy":
      return await session.destroy(req.domain);
    case "console":
      return session.consoleTty(req.domain, req.num);
    default:
      throw new CliError(`unknown control request ${JSON.stringify((req as { op?: unknown }).op)}`);
  }
}
