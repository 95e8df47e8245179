/**
 * Reads a config file (YAML, which includes JSON), validates it against the schema, resolves its
 * paths against the file's directory and checks that the files it names exist. Every problem is
 * reported with the file, the field (`domains[0].disks[1].target`), its line, and the reason.
 */
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { LineCounter, isMap, parseDocument } from "yaml";
import type { z } from "zod";
import { type DiskConfig, type DomainConfig, hostSchema } from "./schema.js";

/** One thing wrong with a config. */
export interface ConfigProblem {
  /** The field, as a path from the top of the file (`domains[0].memory`); "" for the file itself. */
  readonly field: string;
  /** 1-based line of the field in the file, when known. */
  readonly line: number | undefined;
  readonly reason: string;
}

/** A config that cannot be used; `message` lists every problem. */
export class ConfigError extends Error {
  readonly file: string;
  readonly problems: readonly ConfigProblem[];
  constructor(file: string, problems: readonly ConfigProblem[]) {
    super(
      `bad config ${file}:\n` +
        problems
          .map(
            (p) =>
              `  ${p.field === "" ? "(file)" : p.field}${p.line !== undefined ? ` (line ${p.line})` : ""}: ${p.reason}`,
          )
          .join("\n"),
    );
    this.name = "ConfigError";
    this.file = file;
    this.problems = problems;
  }
}

/** The kernel a domain runs: a built-in guest program or a module's default export. */
export type KernelSpec = { readonly builtin: "shell" | "idle" } | { readonly module: string };

/** A validated domain, its paths absolute. */
export interface ResolvedDomain extends Omit<DomainConfig, "kernel" | "disks"> {
  readonly kernel: KernelSpec;
  readonly disks: readonly DiskConfig[];
}

/** A validated config file. */
export interface HostConfig {
  /** The config file, absolute. */
  readonly file: string;
  readonly dom0Memory: number;
  readonly domains: readonly ResolvedDomain[];
}

function fieldName(path: readonly PropertyKey[]): string {
  let s = "";
  for (const k of path)
    s += typeof k === "number" ? `[${k}]` : s === "" ? String(k) : `.${String(k)}`;
  return s;
}

/**
 * Loads and validates `file`.
 * @throws ConfigError for an unreadable or unparsable file, a field that fails the schema, or a
 *   file the config names that does not exist (or cannot be written, for a read-write image).
 */
export function loadConfig(file: string): HostConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(abs, [
      {
        field: "",
        line: undefined,
        reason:
          e.code === "ENOENT" ? "no such file" : e.code === "EISDIR" ? "is a directory" : e.message,
      },
    ]);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      abs,
      doc.errors.map((e) => ({
        field: "",
        line: e.linePos?.[0]?.line,
        reason: `not valid YAML or JSON: ${e.message.split("\n")[0]}`,
      })),
    );
  }
  const raw: unknown = doc.toJS();
  // One domain on its own (as `xl create` takes) is the same as a list of one.
  const single = raw !== null && typeof raw === "object" && !Array.isArray(raw) && "name" in raw;
  const body = single ? { domains: [raw] } : (raw ?? {});
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    const docPath = single ? path.slice(2) : path;
    for (let n = docPath.length; n >= 0; n--) {
      const node =
        n === 0 ? doc.contents : doc.getIn(docPath.slice(0, n) as (string | number)[], true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range) return lc.linePos(range[0]).line;
    }
    return undefined;
  };
  const show = (path: readonly PropertyKey[]): string => fieldName(single ? path.slice(2) : path);
  if (!single && raw !== null && raw !== undefined && !isMap(doc.contents)) {
    throw new ConfigError(abs, [
      {
        field: "",
        line: 1,
        reason: "must be a mapping with `domains` (or one domain with `name`)",
      },
    ]);
  }
  const parsed = hostSchema.safeParse(body);
  if (!parsed.success) throw new ConfigError(abs, problemsOf(parsed.error, show, lineOf));
  const dir = dirname(abs);
  const problems: ConfigProblem[] = [];
  const domains = parsed.data.domains.map((d, i): ResolvedDomain => {
    const at = (...p: (string | number)[]): { field: string; line: number | undefined } => ({
      field: show(["domains", i, ...p]),
      line: lineOf(["domains", i, ...p]),
    });
    let kernel: KernelSpec;
    if (d.kernel === "shell" || d.kernel === "idle") kernel = { builtin: d.kernel };
    else {
      kernel = { module: resolve(dir, d.kernel) };
      if (!isFile(kernel.module))
        problems.push({
          ...at("kernel"),
          reason: `${kernel.module} does not exist (a kernel is "shell", "idle", or a module exporting a GuestMain)`,
        });
    }
    const disks = d.disks.map((disk, j): DiskConfig => {
      if (disk.kind !== "file") return disk;
      const path = resolve(dir, disk.path!);
      const why = imageProblem(path, disk.access === "w" && !disk.overlay);
      if (why !== undefined)
        problems.push({ ...at("disks", j), reason: `${disk.vdev}: image file ${path} ${why}` });
      return { ...disk, path };
    });
    return { ...d, kernel, disks };
  });
  if (problems.length > 0) throw new ConfigError(abs, problems);
  return { file: abs, dom0Memory: parsed.data.dom0.memory, domains };
}

function problemsOf(
  err: z.ZodError,
  show: (p: readonly PropertyKey[]) => string,
  lineOf: (p: readonly PropertyKey[]) => number | undefined,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of err.issues) {
    // A union reports each branch; keep the branch that got furthest, or the union's own words.
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      const branch = issue.errors.find((b) => b.some((i) => i.code !== "invalid_type"));
      if (branch) {
        for (const i of branch)
          out.push({
            field: show([...issue.path, ...i.path]),
            line: lineOf([...issue.path, ...i.path]),
            reason: i.message,
          });
        continue;
      }
    }
    const reason =
      issue.code === "unrecognized_keys"
        ? `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`
        : issue.message;
    const path =
      issue.code === "unrecognized_keys" && issue.keys.length === 1
        ? [...issue.path, issue.keys[0]!]
        : issue.path;
    out.push({ field: show(path), line: lineOf(path), reason });
  }
  return out;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Why an image cannot be served, or undefined. */
function imageProblem(path: string, write: boolean): string | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return "does not exist";
  }
  if (!st.isFile()) return "is not a regular file";
  if (st.size % 512 !== 0) return `is ${st.size} bytes, not a whole number of 512-byte sectors`;
  try {
    accessSync(path, write ? constants.R_OK | constants.W_OK : constants.R_OK);
  } catch {
    return write ? "is not readable and writable (use access r, or overlay)" : "is not readable";
  }
  return undefined;
}
