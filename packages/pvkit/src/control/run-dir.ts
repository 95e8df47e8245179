/**
 * Where a running `pvkit up` host lives: a directory holding xenstored's socket (what
 * `XENSTORED_PATH` names, as `/var/run/xenstored/socket` on a real host), the control socket
 * the other commands talk to, and the host's pid.
 */
import { mkdirSync, lstatSync, readFileSync, unlinkSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { CliError } from "../cli/cli-error.js";

export interface RunPaths {
  readonly dir: string;
  /** xenstored's Unix socket. */
  readonly xenstored: string;
  /** The control socket. */
  readonly control: string;
  readonly pidFile: string;
}

/** `$PVKIT_RUN_DIR`, else `$XDG_RUNTIME_DIR/pvkit`, else `<tmpdir>/pvkit-<user>`. */
export function defaultRunDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PVKIT_RUN_DIR) return resolve(env.PVKIT_RUN_DIR);
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, "pvkit");
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? "user");
  }
  return join(tmpdir(), `pvkit-${user}`);
}

export function runPaths(dir: string): RunPaths {
  const d = resolve(dir);
  return {
    dir: d,
    xenstored: join(d, "xenstored"),
    control: join(d, "control"),
    pidFile: join(d, "pid"),
  };
}

/** Whether something accepts connections on Unix socket `path`. */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const s = connect(path);
    const t = setTimeout(() => {
      s.destroy();
      done(true); // connected-but-silent or slow: treat as alive
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(t);
      s.destroy();
      done(true);
    });
    s.once("error", () => {
      clearTimeout(t);
      done(false);
    });
  });
}

function pidOf(paths: RunPaths): string {
  try {
    return ` (pid ${readFileSync(paths.pidFile, "utf8").trim()})`;
  } catch {
    return "";
  }
}

/**
 * Makes the run directory ready for a new host: creates it, refuses when a host already answers
 * on either socket or a socket path is taken by something that is not a socket, and removes
 * stale sockets left by a host that died.
 * @throws CliError "in-use" or "not-a-socket".
 */
export async function claimRunDir(paths: RunPaths): Promise<void> {
  try {
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CliError(`cannot create run directory ${paths.dir}: ${(err as Error).message}`);
  }
  for (const path of [paths.control, paths.xenstored]) {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (!st.isSocket())
      throw new CliError(
        `${path} exists and is not a socket; refusing to replace it (remove it, or pass --run-dir)`,
      );
    if (await socketAnswers(path)) {
      throw new CliError(
        `socket ${path} is in use: a pvkit host is already running in ${paths.dir}${pidOf(paths)}; stop it (Ctrl-C in its terminal) or pass another --run-dir`,
      );
    }
    unlinkSync(path);
  }
}
