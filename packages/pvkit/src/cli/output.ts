/**
 * Where the CLI writes: lines to stdout, and whether stdout is a terminal (cursor movement and
 * colour only then; piped output stays plain lines).
 */
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { CliError } from "./cli-error.js";

export interface Out {
  /** Writes one line. */
  line(text: string): void;
  /** Writes raw text (no newline added). */
  write(text: string): void;
  /** Whether the output is an interactive terminal. */
  readonly tty: boolean;
  /** Terminal width in columns (80 when unknown). */
  readonly columns: number;
}

export function stdout(): Out {
  const s = process.stdout;
  return {
    line: (t) => void s.write(`${t}\n`),
    write: (t) => void s.write(t),
    tty: s.isTTY === true && process.env.TERM !== "dumb",
    get columns() {
      // 0 when the terminal does not say (a pty nobody sized).
      return s.columns > 0 ? s.columns : 80;
    },
  };
}

/**
 * The directory the user ran the command from: `INIT_CWD`, which pnpm and npm set when they run
 * a package script (the repository's `pnpm pvkit …` runs the CLI in packages/pvkit), else the
 * working directory.
 */
export function userDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.INIT_CWD || process.cwd();
}

/** A path the user typed, made absolute against {@link userDir}. */
export function userPath(path: string): string {
  return resolve(userDir(), path);
}

/**
 * The command the CLI tells the user to run next: `pnpm -w pvkit` when it runs as a package
 * script (the repository's `pnpm pvkit`, `pnpm start`; no `pvkit` is on PATH there, and `-w`
 * runs the root's script from any directory of the workspace), else `pvkit` (an installed bin).
 */
export function pvkitCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.npm_lifecycle_event ? "pnpm -w pvkit" : "pvkit";
}

/**
 * The absolute trace path, once its directory is known to exist.
 * @throws CliError when the directory does not exist or the path is a directory.
 */
export function checkTracePath(path: string): string {
  const abs = resolve(path);
  try {
    if (statSync(abs).isDirectory())
      throw new CliError(
        `--trace ${path}: is a directory; give a file name such as ${abs}/pvkit-trace.json`,
      );
  } catch (err) {
    if (err instanceof CliError) throw err;
  }
  try {
    if (!statSync(dirname(abs)).isDirectory()) throw new Error();
  } catch {
    throw new CliError(`--trace ${path}: directory ${dirname(abs)} does not exist`);
  }
  return abs;
}
