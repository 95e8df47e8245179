// Runs the pvkit CLI as a user does: a separate process (src/cli/main.ts under tsx with the
// workspace's source condition, as the repo's scripts run TypeScript), every one bounded by a
// timeout and killed in teardown.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

export const PKG_DIR = fileURLToPath(new URL("../..", import.meta.url));
export const MAIN = join(PKG_DIR, "src/cli/main.ts");
/** tsx's loader, by absolute URL so the CLI can run with any working directory. */
const TSX = pathToFileURL(createRequire(join(PKG_DIR, "package.json")).resolve("tsx")).href;
/** node arguments that run the CLI from source. */
export const NODE_ARGS = ["--conditions=@pvkit/source", "--import", TSX, MAIN];

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

const live = new Set<ChildProcess>();

/** Kills every process still running (call in afterEach/afterAll). */
export function killAll(): void {
  for (const c of live) c.kill("SIGKILL");
  live.clear();
}

/**
 * The environment of a CLI run: this process's, without what pnpm set for the test run itself
 * (`INIT_CWD`, `npm_lifecycle_event`: a user's shell has neither), then `extra`.
 */
function cliEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return { ...process.env, INIT_CWD: undefined, npm_lifecycle_event: undefined, ...extra };
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Real ms before the process is killed. Default 40 s. */
  readonly timeoutMs?: number;
}

/** Runs `pvkit <args>` to completion. */
export function runCli(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
    cwd: opts.cwd ?? PKG_DIR,
    env: cliEnv(opts.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 40_000);
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A running `pvkit up`. */
export interface UpProcess {
  readonly child: ChildProcess;
  output(): string;
  stderr(): string;
  /** Resolves once stdout contains `text`. @throws after `timeoutMs` (with what was seen). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** SIGINT, then the exit. */
  stop(): Promise<RunResult>;
}

/** Starts `pvkit up <args>` and waits for it to say it is running. */
export async function startUp(args: readonly string[], opts: RunOptions = {}): Promise<UpProcess> {
  const child = spawn(process.execPath, [...NODE_ARGS, "up", ...args], {
    cwd: opts.cwd ?? PKG_DIR,
    env: cliEnv(opts.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let stdout = "";
  let stderr = "";
  const waiters: (() => void)[] = [];
  const wake = (): void => void waiters.splice(0).forEach((w) => void w());
  child.stdout!.setEncoding("utf8").on("data", (c: string) => ((stdout += c), wake()));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => ((stderr += c), wake()));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const exited = new Promise<RunResult>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      wake();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  const up: UpProcess = {
    child,
    output: () => stdout,
    stderr: () => stderr,
    async waitFor(text, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!stdout.includes(text)) {
        if (done)
          throw new Error(
            `pvkit up exited before printing ${JSON.stringify(text)}; stdout:\n${stdout}\nstderr:\n${stderr}`,
          );
        if (Date.now() > deadline)
          throw new Error(
            `pvkit up did not print ${JSON.stringify(text)} in ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`,
          );
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    async stop() {
      if (!done) child.kill("SIGINT");
      return exited;
    },
  };
  await up.waitFor("pvkit up: running");
  return up;
}

/** A fresh temporary directory and its removal. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
