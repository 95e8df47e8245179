/**
 * pvkit's xenstored as a stand-alone socket daemon for the cxenstored comparison (run.ts starts
 * it in its own process, pinned to a core): a {@link Xenstored} with cxenstored 4.17's defaults
 * and its Unix socket ({@link listenXenstored}), where every client is a privileged dom0 tool,
 * as on cxenstored's socket. With `--host` it is instead a whole simulated host
 * (`createHost({ socketPath })`, as scripts/xenstore-host-check.sh starts it): the same daemon
 * plus the hypervisor and dom0 around it.
 *
 * Usage: node --max-semi-space-size=1 --conditions=@pvkit/source --import tsx pvkit-daemon.ts [--host] <socket> <ready file>
 * (the flags of {@link XENSTORED_DAEMON_NODE_FLAGS}, which run.ts passes; without them the
 * daemon says so on stderr and runs with node's default young generation).
 * The ready file receives this process's pid once the socket listens. SIGTERM/SIGINT close the
 * server (the socket file is removed) and exit 0.
 */
import { writeFileSync } from "node:fs";
import {
  createHost,
  listenXenstored,
  XENSTORED_DAEMON_NODE_FLAGS,
  Xenstored,
} from "@pvkit/toolstack";

const missing = XENSTORED_DAEMON_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
if (missing.length > 0)
  console.error(`pvkit-daemon: started without ${missing.join(" ")}: node's default heap`);

const args = process.argv.slice(2);
const hostMode = args[0] === "--host";
const [socketPath, readyFile] = hostMode ? args.slice(1) : args;
if (!socketPath || !readyFile) {
  console.error("usage: pvkit-daemon.ts [--host] <socket path> <ready file>");
  process.exit(2);
}

let close: () => Promise<void>;
if (hostMode) {
  const host = await createHost({ socketPath });
  close = () => host.close();
} else {
  const xs = new Xenstored();
  const server = await listenXenstored(xs, socketPath);
  close = async () => {
    await server.close();
    xs.close();
  };
}
writeFileSync(readyFile, `${process.pid}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error("pvkit-daemon: close failed:", err);
      process.exit(1);
    },
  );
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
