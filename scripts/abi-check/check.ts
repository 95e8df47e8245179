/**
 * Cross-checks the ABI tables of `@pvkit/hypervisor-sim/abi` against Xen's real public headers.
 *
 * It finds every layout table the package exports, generates a C probe (gen-c.ts) that prints
 * offsetof/sizeof for each modelled field and the value of each modelled constant, compiles it
 * with `gcc -D__XEN_TOOLS__` against /usr/include/xen, runs it, and compares line by line.
 *
 *   pnpm abi-check                  # from the repo root
 *   pnpm abi-check --verbose        # also print every checked field
 *   pnpm abi-check --emit-c         # print the generated C and exit
 *
 * Environment: CC (default gcc), XEN_INCLUDE (default /usr/include, must contain xen/xen.h).
 * Exit status: 0 all equal, 1 any mismatch, 2 the probe could not be built or run.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as abi from "../../packages/hypervisor-sim/src/abi/index.ts";
import type { FieldSpec } from "../../packages/hypervisor-sim/src/abi/struct.ts";
import { generateProbe, type ProbeInput } from "./gen-c.ts";
import {
  ABSENT_OK,
  CONSTANT_TABLES,
  CONSTANTS,
  OFFSETS,
  SCALAR_SIZES,
  STRUCTS,
  type StructMapping,
} from "./map.ts";

type Fields = Readonly<Record<string, FieldSpec>>;
const exported = abi as unknown as Readonly<Record<string, unknown>>;
const args = new Set(process.argv.slice(2));
const verbose = args.has("--verbose");

const failures: string[] = [];
const warnings: string[] = [];
const fail = (msg: string): void => {
  failures.push(msg);
  console.log(`  FAIL ${msg}`);
};

function isLayout(v: unknown): v is Fields {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const values = Object.values(v);
  return (
    values.length > 0 &&
    values.every(
      (s) => Array.isArray(s) && s.length === 2 && s.every((n) => Number.isInteger(n) && n >= 0),
    )
  );
}

function numberExport(name: string): number | undefined {
  const v = exported[name];
  return typeof v === "number" ? v : undefined;
}

// ---- 1. Collect what we claim -------------------------------------------------------------
const layoutNames = Object.keys(exported)
  .filter((k) => isLayout(exported[k]))
  .sort();
const structs: [string, StructMapping, Fields][] = [];
for (const name of layoutNames) {
  const map = STRUCTS[name];
  if (map === undefined)
    warnings.push(`layout ${name} has no C mapping in scripts/abi-check/map.ts: not checked`);
  else structs.push([name, map, exported[name] as Fields]);
}
for (const name of Object.keys(STRUCTS)) {
  // A note, not a failure: other parts of the ABI land separately, and nothing is mismatched.
  if (!layoutNames.includes(name))
    warnings.push(`map.ts names layout ${name}, which the package does not export: not checked`);
}

const claimed = new Map<string, number>();
for (const table of CONSTANT_TABLES) {
  const t = exported[table];
  if (typeof t !== "object" || t === null) {
    fail(`constant table ${table} is not exported`);
    continue;
  }
  for (const [k, v] of Object.entries(t)) if (typeof v === "number") claimed.set(k, v);
}
for (const name of CONSTANTS) {
  const v = numberExport(name);
  if (v === undefined) fail(`constant ${name} is not exported`);
  else claimed.set(name, v);
}

const input: ProbeInput = {
  structs,
  scalarSizes: SCALAR_SIZES,
  offsets: OFFSETS,
  constants: [...claimed.keys()],
};
const source = generateProbe(input);
if (args.has("--emit-c")) {
  process.stdout.write(source);
  process.exit(0);
}

// ---- 2. Build and run the probe -----------------------------------------------------------
const cc = process.env.CC ?? "gcc";
const include = process.env.XEN_INCLUDE ?? "/usr/include";
if (!existsSync(join(include, "xen/xen.h"))) {
  console.error(
    `abi-check: ${include}/xen/xen.h not found (install libxen-dev or set XEN_INCLUDE)`,
  );
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "pvkit-abi-check-"));
let probeOutput: string;
let ccVersion: string;
try {
  writeFileSync(join(dir, "probe.c"), source);
  ccVersion = execFileSync(cc, ["-dumpfullversion"], { encoding: "utf8" }).trim();
  execFileSync(
    cc,
    [
      "-std=gnu11",
      "-D__XEN_TOOLS__",
      `-I${include}`,
      "-o",
      join(dir, "probe"),
      join(dir, "probe.c"),
    ],
    {
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
  probeOutput = execFileSync(join(dir, "probe"), { encoding: "utf8" });
} catch (e) {
  console.error(
    `abi-check: could not build or run the C probe (${(e as Error).message.split("\n")[0]})`,
  );
  process.exit(2);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// ---- 3. Parse the probe's facts -----------------------------------------------------------
const cSizeof = new Map<string, number>();
const cField = new Map<string, [number, number]>();
const cScalar = new Map<string, number>();
const cOffset = new Map<string, number>();
const cConst = new Map<string, number>();
const cMissing = new Set<string>();
const cErrno = new Map<string, number>();
const cErrnoXen = new Map<string, number>();
let iface = "?";
for (const line of probeOutput.split("\n")) {
  const w = line.split(" ");
  switch (w[0]) {
    case "field":
      cField.set(`${w[1]} ${w[2]}`, [Number(w[3]), Number(w[4])]);
      break;
    case "sizeof":
      cSizeof.set(w[1]!, Number(w[2]));
      break;
    case "scalar":
      cScalar.set(w[1]!, Number(w[2]));
      break;
    case "offset":
      cOffset.set(w[1]!, Number(w[2]));
      break;
    case "const":
      cConst.set(w[1]!, Number(w[2]));
      break;
    case "missing":
      cMissing.add(w[1]!);
      break;
    case "errno":
      cErrno.set(w[1]!, Number(w[2]));
      break;
    case "errno_xen":
      cErrnoXen.set(w[1]!, Number(w[2]));
      break;
    case "iface":
      iface = w[1]!;
      break;
  }
}

// ---- 4. Compare ---------------------------------------------------------------------------
console.log(`abi-check: ${include}/xen, __XEN_INTERFACE_VERSION__ ${iface}, ${cc} ${ccVersion}`);
let fieldCount = 0;
for (const [name, map, layout] of structs) {
  const sizeofC = cSizeof.get(name);
  const before = failures.length;
  if (sizeofC === undefined) {
    fail(`${name}: the probe printed no sizeof`);
    continue;
  }
  if (map.size !== null) {
    const ours = numberExport(map.size);
    if (ours === undefined) fail(`${name}: size constant ${map.size} is not exported`);
    else if (ours !== sizeofC)
      fail(`${map.size} = ${ours}, but ${map.cSize ?? `sizeof(${map.c})`} = ${sizeofC}`);
  } else {
    const extent = Math.max(...Object.values(layout).map(([o, s]) => o + s));
    if (extent !== sizeofC)
      fail(`${name}: fields end at ${extent}, but sizeof(${map.c}) = ${sizeofC}`);
  }
  for (const [field, [off, size]] of Object.entries(layout)) {
    fieldCount++;
    const c = cField.get(`${name} ${field}`);
    const cPath = `${map.c}.${map.prefix ?? ""}${field}`;
    if (c === undefined) fail(`${name}.${field}: the probe printed nothing`);
    else if (c[0] !== off || c[1] !== size)
      fail(`${name}.${field}: ours @${off}/${size}, C ${cPath} @${c[0]}/${c[1]}`);
    else if (verbose) console.log(`       ${name}.${field} @${off}/${size} = ${cPath}`);
  }
  if (failures.length === before) {
    const variant = map.prefix ? ` (${map.prefix.slice(0, -1)})` : "";
    const what = map.cSize ?? "sizeof";
    console.log(
      `  ok   ${name} = ${map.c}${variant}: ${what} ${sizeofC}, ${Object.keys(layout).length} fields`,
    );
  }
}
for (const [name, ctype] of Object.entries(SCALAR_SIZES)) {
  const ours = numberExport(name);
  const c = cScalar.get(name);
  if (ours === undefined || ours !== c) fail(`${name} = ${ours}, but sizeof(${ctype}) = ${c}`);
  else console.log(`  ok   ${name} = sizeof(${ctype}) = ${c}`);
}
for (const [name, [ctype, path]] of Object.entries(OFFSETS)) {
  const ours = numberExport(name);
  const c = cOffset.get(name);
  if (ours === undefined || ours !== c)
    fail(`${name} = ${ours}, but offsetof(${ctype}, ${path}) = ${c}`);
  else console.log(`  ok   ${name} = offsetof(${ctype}, ${path}) = ${c}`);
}
let constOk = 0;
for (const [name, ours] of claimed) {
  if (cMissing.has(name)) {
    if (ABSENT_OK[name] !== undefined)
      warnings.push(`${name} is not in the headers: ${ABSENT_OK[name]}`);
    else fail(`${name} = ${ours} is not defined by the headers`);
  } else if (cConst.get(name) !== ours) fail(`${name}: ours ${ours}, header ${cConst.get(name)}`);
  else {
    constOk++;
    if (verbose) console.log(`       ${name} = ${ours}`);
  }
}
console.log(
  `  ok   ${constOk} constants equal the headers' (${CONSTANT_TABLES.join(", ")}, DOMID_*, ...)`,
);
const ourErrno = exported["XEN_ERRNO"] as Readonly<Record<string, number>>;
let errnoOk = 0;
for (const [name, ours] of Object.entries(ourErrno)) {
  const c = cErrno.get(name) ?? cErrnoXen.get(name);
  if (c !== ours) fail(`XEN_ERRNO.${name}: ours ${ours}, xen/errno.h ${c ?? "(absent)"}`);
  else errnoOk++;
  if (c !== undefined && !cErrno.has(name))
    warnings.push(`errno ${name} is hypervisor-internal (__XEN__ only in xen/errno.h)`);
}
console.log(
  `  ok   ${errnoOk} of ${Object.keys(ourErrno).length} errno values (xen/errno.h lists ${cErrno.size})`,
);

for (const w of warnings) console.log(`  note ${w}`);
const verdict = failures.length === 0 ? "PASS" : "FAIL";
console.log(
  `abi-check: ${verdict}: checked ${structs.length} layouts (${fieldCount} fields), ` +
    `${Object.keys(SCALAR_SIZES).length + Object.keys(OFFSETS).length} size/offset constants, ` +
    `${claimed.size} constants and ${Object.keys(ourErrno).length} errno values against the headers; ` +
    `${failures.length} mismatches, ${warnings.length} notes`,
);
process.exit(failures.length === 0 ? 0 : 1);
