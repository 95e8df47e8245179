/**
 * The test host's seed: every test host has one, and everything random in it (the scheduler's
 * chaos, fault injection, a hostile peer) is drawn from generators seeded from it, so a seed
 * fixes the whole run and the same seed replays the same trace byte for byte.
 *
 * The seed is, in order: the `PVKIT_SEED` environment variable (a rerun), the test host's
 * `seed` option, or {@link DEFAULT_SEED}. A failing test prints it with the command that reruns
 * exactly that test with it ({@link rerunCommand}).
 */

/** The seed of a test host given none (and no PVKIT_SEED). */
export const DEFAULT_SEED = 1;

/** The environment variable a rerun sets: `PVKIT_SEED=1234 pnpm vitest run <file> -t "<name>"`. */
export const SEED_ENV = "PVKIT_SEED";

/**
 * Parses a seed: a decimal or 0x-hex integer in [0, 2^32).
 * @throws RangeError for anything else (naming `what`).
 */
export function parseSeed(text: string, what = SEED_ENV): number {
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t)
    ? Number.parseInt(t.slice(2), 16)
    : /^[0-9]+$/.test(t)
      ? Number(t)
      : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff)
    throw new RangeError(`${what} must be an integer in [0, 2^32), got ${JSON.stringify(text)}`);
  return n;
}

/**
 * The seed a test host uses: PVKIT_SEED when set (it overrides `given`, so a printed rerun
 * command replays the failing run), else `given`, else {@link DEFAULT_SEED}.
 * @throws RangeError when PVKIT_SEED or `given` is not a u32.
 */
export function resolveSeed(
  given: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const e = env[SEED_ENV];
  if (e !== undefined && e !== "") return parseSeed(e);
  if (given === undefined) return DEFAULT_SEED;
  if (!Number.isInteger(given) || given < 0 || given > 0xffff_ffff)
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${given}`);
  return given;
}

/**
 * An independent stream's seed derived from the host's (`stream` names it: "chaos", "faults",
 * "hostile"), so that turning one fault on does not shift the draws of another.
 */
export function subSeed(seed: number, stream: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Where a test is, for its rerun command. */
export interface TestLocation {
  /** The test file (absolute or relative to the package). */
  readonly file?: string | undefined;
  /**
   * The full test name as vitest's `-t` matches it: the enclosing `describe`s' names and the
   * test's, joined by spaces (not vitest's `fullTestName`, which joins them with " > ").
   */
  readonly name?: string | undefined;
}

/** What {@link taskLocation} reads of a vitest task (`RunnerTestCase`): its name, its suite, its file. */
interface TaskLike {
  readonly name: string;
  readonly suite?: TaskLike | undefined;
  readonly file?: { readonly filepath: string } | undefined;
  readonly filepath?: string;
}

/**
 * @internal Where vitest task `task` is, for its rerun command: its file, and its name as
 * vitest's `-t` matches it — the names of its enclosing `describe`s and its own, joined by
 * spaces (vitest's `getTaskFullName`, without the file's name; `task.fullTestName` joins them
 * with " > ", which `-t` does not match).
 */
export function taskLocation(task: TaskLike): TestLocation {
  const names: string[] = [];
  for (let t: TaskLike | undefined = task; t !== undefined && t.filepath === undefined; t = t.suite)
    if (t.name !== "") names.unshift(t.name);
  return { file: task.file?.filepath, name: names.join(" ") };
}

/**
 * The command that reruns one test with `seed`:
 * `PVKIT_SEED=1234 pnpm vitest run test/x.test.ts -t "^suite does X when Y$"`. The file is made
 * relative to the current directory; the name (see {@link TestLocation}) has its regex
 * metacharacters escaped and is anchored at both ends, so `-t` selects that test and not one
 * whose name merely contains it.
 */
export function rerunCommand(seed: number, at: TestLocation = {}): string {
  const cwd = process.cwd();
  const file =
    at.file === undefined
      ? ""
      : ` ${at.file.startsWith(`${cwd}/`) ? at.file.slice(cwd.length + 1) : at.file}`;
  const name =
    at.name === undefined
      ? ""
      : ` -t ${JSON.stringify(`^${at.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`)}`;
  return `${SEED_ENV}=${seed} pnpm vitest run${file}${name}`;
}

/** Appends "seed N; rerun: <command>" to an error's message (once), and returns the error. */
export function withSeedLine(err: unknown, seed: number, at: TestLocation = {}): unknown {
  if (!(err instanceof Error)) return err;
  const line = `seed ${seed}; rerun: ${rerunCommand(seed, at)}`;
  if (!err.message.includes(line)) err.message += `\n${line}`;
  return err;
}
