/**
 * `pvkit console <domain>`: attaches this terminal to a guest's console pty, as `xl console`
 * does (tools/xl/xl_console.c execs xenconsole, which opens the tty named by `console/tty` and
 * copies both ways with the local terminal raw). Ctrl-] (0x1d, xenconsole's escape) detaches.
 */
import { execFileSync } from "node:child_process";
import { constants, openSync, writeSync } from "node:fs";
import { ReadStream } from "node:tty";
import { controlRequest } from "../control/control.js";
import { runPaths } from "../control/run-dir.js";
import { CliError } from "./cli-error.js";

/** Ctrl-]: xenconsole's `ESCAPE_CHARACTER`. */
export const ESCAPE_CHARACTER = 0x1d;

export async function consoleCommand(
  domain: string,
  opts: { runDir: string; num: number },
): Promise<void> {
  const r = (await controlRequest(runPaths(opts.runDir).control, {
    op: "console",
    domain,
    num: opts.num,
  })) as { domid: number; name: string; tty: string };
  let fd: number;
  try {
    fd = openSync(r.tty, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (err) {
    throw new CliError(
      `cannot open console ${r.tty} of d${r.domid} ${r.name}: ${(err as Error).message}`,
    );
  }
  process.stderr.write(
    `[attached to d${r.domid} ${r.name} console ${opts.num} on ${r.tty}; Ctrl-] detaches]\r\n`,
  );
  const stdin = process.stdin;
  const restore = stdin.isTTY === true ? makeRaw(stdin) : undefined;
  const pty = new ReadStream(fd);
  const pending: Buffer[] = [];
  let retry: ReturnType<typeof setTimeout> | undefined;
  const flush = (): void => {
    retry = undefined;
    while (pending.length > 0) {
      const b = pending[0]!;
      let n: number;
      try {
        n = writeSync(fd, b);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
        n = 0;
      }
      if (n < b.length) {
        pending[0] = b.subarray(n);
        retry = setTimeout(flush, 10);
        return;
      }
      pending.shift();
    }
  };
  await new Promise<void>((resolve, reject) => {
    const detach = (err?: Error): void => {
      stdin.off("data", onInput);
      stdin.off("end", onEnd);
      restore?.();
      stdin.pause();
      if (retry) clearTimeout(retry);
      pty.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onInput = (b: Buffer): void => {
      const esc = b.indexOf(ESCAPE_CHARACTER);
      pending.push(esc < 0 ? b : b.subarray(0, esc));
      try {
        flush();
      } catch (err) {
        return detach(new CliError(`console ${r.tty}: ${(err as Error).message}`));
      }
      if (esc >= 0) {
        process.stderr.write(`\r\n[detached from d${r.domid} ${r.name}]\r\n`);
        detach();
      }
    };
    const onEnd = (): void => detach();
    pty.on("data", (b: Buffer) => process.stdout.write(b));
    pty.on("error", (err: NodeJS.ErrnoException) =>
      detach(
        err.code === "EIO"
          ? new CliError(
              `console of d${r.domid} ${r.name} closed (the domain or the host went away)`,
            )
          : err,
      ),
    );
    pty.on("end", () => detach(new CliError(`console of d${r.domid} ${r.name} closed`)));
    stdin.on("data", onInput);
    stdin.on("end", onEnd);
    stdin.resume();
  });
}

/**
 * Puts the local terminal in raw mode as xenconsole does (`cfmakeraw`: no echo, no line
 * editing, no signals, and no output processing, so the guest's "\r\n" is not turned into
 * "\r\r\n"); returns the restore. Node's `setRawMode` keeps output processing on, so `stty`
 * (coreutils) does it on the terminal itself, with `setRawMode` as the fallback.
 */
function makeRaw(stdin: NodeJS.ReadStream): () => void {
  const io = {
    stdio: ["inherit", "pipe", "ignore"] as ["inherit", "pipe", "ignore"],
    encoding: "utf8" as const,
  };
  try {
    const saved = execFileSync("stty", ["-g"], io).trim();
    execFileSync("stty", ["raw", "-echo"], io);
    return () => {
      try {
        execFileSync("stty", [saved], io);
      } catch {
        stdin.setRawMode(false);
      }
    };
  } catch {
    stdin.setRawMode(true);
    return () => stdin.setRawMode(false);
  }
}
