/**
 * CI check of the packages' public type surface, on the built declarations (`tsc -b` first):
 *
 * 1. No `@internal` member in a public .d.ts: for every package under packages/, the .d.ts files
 *    reachable from its package.json `exports` (each entry's `types`, then every relative
 *    `export … from` / `import … from` / `import("…")` in them) must not declare anything tagged
 *    `@internal`, with no exceptions. The packages build with `stripInternal: true`
 *    (tsconfig.base.json), which drops tagged declarations, class members and type-literal members
 *    from the emitted .d.ts; what it cannot drop (a member of an object type inferred from a
 *    value, a package built without the option) shows up here as `<package>/<file>: <name>`.
 * 2. The simulator's internals do not type-check from outside: a probe compiled against the
 *    built `@pvkit/hypervisor-sim` (no `@pvkit/source` condition, as a consumer sees it) must
 *    fail on each `@ts-expect-error` line (`hv.domains[1].pauseCount = 5`, `Guest.domain`, …);
 *    a line that compiles is an accidental export.
 * 3. The published declarations compile for a consumer: every `exports` entry of every package,
 *    imported by name with `skipLibCheck: false` (a re-export of a stripped @internal name fails).
 * 4. No constructor of a concrete class is tagged `@internal` in the sources: stripInternal drops
 *    it, and the .d.ts then offers the implicit public `new X()` that the tag meant to forbid.
 *    Such a class gets a private constructor and a module factory instead.
 *
 *   pnpm exec tsx scripts/check-public-dts.ts            # build, then check
 *   pnpm exec tsx scripts/check-public-dts.ts --no-build # check the dist/ already there
 *
 * Exit status: 0 clean, 1 a leak, 2 the build or the probe could not run.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const tsc = join(root, "node_modules/.bin/tsc");

if (!args.has("--no-build")) {
  try {
    execFileSync(tsc, ["-b"], { cwd: root, stdio: "inherit" });
  } catch {
    console.error("check-public-dts: tsc -b failed");
    process.exit(2);
  }
}

// ---- 1. @internal in the public .d.ts ----------------------------------------------------------

/** The `types` files of a package's exports map (conditions nested any way). */
function exportTypes(exp: unknown, out: string[]): void {
  if (typeof exp !== "object" || exp === null) return;
  for (const [k, v] of Object.entries(exp)) {
    if (k === "types" && typeof v === "string") out.push(v);
    else exportTypes(v, out);
  }
}

const RELATIVE = /(?:from\s+|import\(\s*)"(\.{1,2}\/[^"]+)"/g;

/** Every .d.ts reachable from `entries` through relative imports and re-exports. */
function reachable(entries: string[]): string[] {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const f = todo.pop()!;
    if (seen.has(f) || !existsSync(f)) continue;
    seen.add(f);
    for (const m of readFileSync(f, "utf8").matchAll(RELATIVE)) {
      todo.push(resolve(dirname(f), m[1]!.replace(/\.js$/, ".d.ts")));
    }
  }
  return [...seen].sort();
}

/** `@internal` declarations of one .d.ts: the name of what follows each tagged JSDoc block. */
function internalDecls(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  const block = /\/\*\*((?:(?!\*\/)[\s\S])*?)\*\/\s*([^\n]*)/g;
  for (const m of text.matchAll(block)) {
    if (!/@internal\b/.test(m[1]!)) continue;
    const decl = m[2]!.trim();
    const name =
      /(?:(?:export|declare|static|readonly|get|set|abstract|protected|public|private|function|class|interface|type|const|let|var|enum)\s+)*([#\w$]+)/.exec(
        decl,
      )?.[1] ?? decl;
    out.push(name);
  }
  return out;
}

const found = new Set<string>();
let files = 0;
/** Every public entry (`name` + subpath) of every package, for the consumer compile (3.). */
const entrySpecifiers: string[] = [];
for (const dir of readdirSync(join(root, "packages")).sort()) {
  const pkgDir = join(root, "packages", dir);
  const pj = join(pkgDir, "package.json");
  if (!existsSync(pj)) continue;
  const pkg = JSON.parse(readFileSync(pj, "utf8")) as { name: string; exports?: unknown };
  const entries: string[] = [];
  exportTypes(pkg.exports, entries);
  for (const [sub, v] of Object.entries((pkg.exports ?? {}) as Record<string, unknown>)) {
    if (v !== null && typeof v === "object" && sub.startsWith(".") && !sub.includes("*"))
      entrySpecifiers.push(pkg.name + sub.slice(1));
  }
  const dts = reachable(entries.map((e) => resolve(pkgDir, e)));
  if (entries.length > 0 && dts.length === 0) {
    console.error(`check-public-dts: ${pkg.name} has no built declarations (run tsc -b)`);
    process.exit(2);
  }
  files += dts.length;
  for (const f of dts)
    for (const name of internalDecls(f)) found.add(`${dir}/${relative(pkgDir, f)}: ${name}`);
}

const leaks = [...found].sort();
for (const l of leaks) console.log(`  FAIL @internal in a public .d.ts: ${l}`);
console.log(
  `check-public-dts: ${files} public .d.ts files, ${leaks.length} @internal declarations`,
);

// ---- 2. the simulator's internals from outside -------------------------------------------------

const PROBE = `// Generated by scripts/check-public-dts.ts: every line below must fail to type-check.
import { Guest, Hypervisor } from "@pvkit/hypervisor-sim";
const hv = new Hypervisor();
hv.createDomain();
hv.createDomain();
// @ts-expect-error a domain's pause count is not public
hv.domains[1]!.pauseCount = 5;
// @ts-expect-error a domain's state is read-only
hv.domains[1]!.state = "dead";
// @ts-expect-error the grant table is not on the public domain
hv.domains[1]!.gnttab;
// @ts-expect-error the port table is not on the public domain
hv.domainById(1)!.evtchn;
// @ts-expect-error a guest does not expose its domain
hv.guest(1).domain;
// @ts-expect-error event delivery is not part of Hypervisor
hv.setPending;
// @ts-expect-error vcpu_kick is not part of Hypervisor
hv.kick;
// @ts-expect-error the trace sequence is not part of Hypervisor
hv.nextTraceSeq();
// @ts-expect-error nor is the domain finaliser
hv.maybeFinaliseDomain;
// @ts-expect-error Guest is made by the hypervisor only
new Guest();
// @ts-expect-error PIRQs are bound through EVTCHNOP_bind_pirq, not on the controller
hv.irq.guestBind;
export {};
`;

const probeDir = mkdtempSync(join(root, "packages/hypervisor-sim/.dts-probe-"));
let probeFailed = false;
try {
  writeFileSync(join(probeDir, "probe.ts"), PROBE);
  writeFileSync(
    join(probeDir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022", "ESNext.Disposable"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      files: ["probe.ts"],
    }),
  );
  try {
    execFileSync(tsc, ["-p", probeDir], { cwd: root, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    const out = String((e as { stdout?: string }).stdout ?? "");
    for (const line of out.split("\n").filter((l) => l.includes("error"))) {
      probeFailed = true;
      const unused = line.includes("TS2578");
      console.log(
        `  FAIL ${unused ? "an internal compiles from outside" : "probe error"}: ${line.replace(probeDir + "/", "")}`,
      );
    }
    if (!probeFailed) {
      console.error(
        `check-public-dts: the probe did not run: ${(e as Error).message.split("\n")[0]}`,
      );
      process.exit(2);
    }
  }
} finally {
  rmSync(probeDir, { recursive: true, force: true });
}
if (!probeFailed)
  console.log(
    "check-public-dts: the simulator's internals do not type-check from outside (11 probes)",
  );

// ---- 3. the published declarations compile for a consumer ----------------------------------------
// stripInternal drops a tagged declaration but not a re-export of it (`export { type X }` of a
// stripped X) nor a public declaration's reference to it: such a .d.ts fails a consumer that
// checks libraries. Every public entry of every package, imported from packages/pvkit (which
// depends on all of them), with skipLibCheck off.

const consumerDir = mkdtempSync(join(root, "packages/pvkit/.dts-consumer-"));
let consumerFailed = false;
try {
  writeFileSync(
    join(consumerDir, "consumer.ts"),
    entrySpecifiers.map((s, i) => `export * as m${i} from "${s}";\n`).join(""),
  );
  writeFileSync(
    join(consumerDir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022", "ESNext.Disposable"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ["node"],
      },
      files: ["consumer.ts"],
    }),
  );
  try {
    execFileSync(tsc, ["-p", consumerDir], { cwd: root, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    const out = String((e as { stdout?: string }).stdout ?? "");
    // Only our own declarations: third-party typings are not this check's business.
    for (const line of out
      .split("\n")
      .filter((l) => l.includes("error") && !l.includes("node_modules/.pnpm"))) {
      consumerFailed = true;
      console.log(
        `  FAIL a published .d.ts does not compile for a consumer: ${line.replace(consumerDir + "/", "")}`,
      );
    }
  }
} finally {
  rmSync(consumerDir, { recursive: true, force: true });
}
if (!consumerFailed)
  console.log(
    `check-public-dts: the ${entrySpecifiers.length} public entries' declarations compile for a consumer (skipLibCheck off)`,
  );

// ---- 4. no @internal constructor of a concrete class ----------------------------------------------

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}
const internalCtors: string[] = [];
for (const dir of readdirSync(join(root, "packages")).sort()) {
  const src = join(root, "packages", dir, "src");
  if (!existsSync(src)) continue;
  for (const f of sourceFiles(src)) {
    const text = readFileSync(f, "utf8");
    for (const m of text.matchAll(
      /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(?:public\s+)?constructor\s*\(/g,
    )) {
      if (!/@internal\b/.test(m[1]!)) continue;
      const before = text.slice(0, m.index);
      const cls = [...before.matchAll(/^export\s+(abstract\s+)?class\s+(\w+)/gm)].at(-1);
      if (cls === undefined || cls[1] !== undefined) continue;
      internalCtors.push(`${relative(root, f)}: ${cls[2]}`);
    }
  }
}
for (const c of internalCtors)
  console.log(`  FAIL an @internal constructor becomes an implicit public one: ${c}`);
if (internalCtors.length === 0)
  console.log("check-public-dts: no concrete class has an @internal constructor");

if (leaks.length > 0 || probeFailed || consumerFailed || internalCtors.length > 0) {
  console.log("check-public-dts: FAIL");
  process.exit(1);
}
console.log("check-public-dts: PASS");
