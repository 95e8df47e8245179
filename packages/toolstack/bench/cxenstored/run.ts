/**
 * pvkit's xenstored against Xen 4.17's cxenstored, in one run, with a C client speaking xs_wire
 * over each one's Unix socket (issue 14). `pnpm --filter @pvkit/toolstack bench:cxenstored`.
 *
 * 1. Builds the C pieces with gcc into bench/cxenstored/.build/ (again only when a source is
 *    newer): xsbench (the client), nullserver (a server answering every request with a fixed
 *    reply: the ceiling) and xenshim.so (the LD_PRELOAD shim that lets cxenstored start without
 *    a hypervisor).
 * 2. Fetches cxenstored once: `apt-get download` of xen-utils-4.17 and the libxen* runtime
 *    packages its binary links, unpacked with `dpkg-deb -x` into .build/xen/ (nothing is
 *    installed). If that fails the run goes on without it and says so.
 * 3. Starts the daemons, each pinned with `taskset` to the daemon core (the clients get the
 *    other core): pvkit's (pvkit-daemon.ts, its own node process), cxenstored
 *    (`xenstored -N`, socket in a private XENSTORED_RUNDIR) and the null server. A daemon that
 *    does not come up within the timeout fails the run with its log.
 * 4. Per daemon: VmRSS after start-up, then after writing 10 000 nodes.
 * 5. Every case (READ, WRITE, DIRECTORY of 100 children, a READ+WRITE transaction; 1 client,
 *    8 client processes, 16 in flight on one connection) against every daemon, alternating
 *    daemons, `--reps` times; the median ops/s and the daemon's CPU per request
 *    (utime+stime from /proc/<pid>/stat over the measured window).
 * 6. Prints the markdown table; `--update-readme` also writes it into packages/toolstack/README.md
 *    between the bench:cxenstored markers. Daemons are stopped (SIGTERM, then SIGKILL) on every
 *    exit path, SIGINT included.
 *
 * Options: --seconds S (per run, default 2), --reps N (default 3), --warmup S (default 0.5),
 * --nodes N (default 10000), --only pvkit,cxenstored,null, --update-readme, --pvkit-at REV (measure
 * pvkit's xenstored as committed at git revision REV, exported with `git archive` into
 * .build/tree-<commit>/, instead of the working tree: a before/after comparison in one tree),
 * --tsx (run pvkit-daemon.ts under tsx instead of as an esbuild bundle on plain node),
 * --default-heap (start pvkit's daemon without the V8 flags of XENSTORED_DAEMON_NODE_FLAGS).
 * Environment: XSBENCH_DAEMON_CPU / XSBENCH_CLIENT_CPU (cores, default 0 and 1), XSBENCH_NICE
 * (a `nice -n` increment for daemons and clients, e.g. -5 as root on a busy machine).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  closeSync,
} from "node:fs";
import { createConnection } from "node:net";
import { createRequire } from "node:module";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { XENSTORED_DAEMON_NODE_FLAGS } from "@pvkit/toolstack";
import {
  CEILING_SHARE,
  cpuUsPerRequest,
  markdownTable,
  median,
  opsPerSec,
  parseXsbench,
  replaceBetween,
  sysUsPerRequest,
  statusKb,
  type CaseRow,
  type MemoryRow,
  type XsbenchResult,
} from "./report.js";

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = resolve(here, "../..");
const build = join(here, ".build");
const xenRoot = join(build, "xen", "root");
const cxenstoredBin = join(xenRoot, "usr/lib/xen-4.17/bin/xenstored");
const xenLibDir = join(xenRoot, "usr/lib/x86_64-linux-gnu");
/** xen-utils-4.17 and the runtime libraries its xenstored needs (directly or through libxenctrl). */
const XEN_DEBS = [
  "xen-utils-4.17",
  "libxenmisc4.17",
  "libxenevtchn1",
  "libxengnttab1",
  "libxencall1",
  "libxenforeignmemory1",
  "libxentoolcore1",
  "libxendevicemodel1",
  "libxentoollog1",
];

// ---- options ----
const argv = process.argv.slice(2);
function opt(name: string, dflt: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) fail(`--${name} needs a positive number`);
  return v;
}
const seconds = opt("seconds", 2);
const reps = Math.round(opt("reps", 3));
const warmup = opt("warmup", 0.5);
const nodes = Math.round(opt("nodes", 10000));
const updateReadme = argv.includes("--update-readme");
const onlyIdx = argv.indexOf("--only");
const only = onlyIdx >= 0 ? new Set((argv[onlyIdx + 1] ?? "").split(",")) : undefined;
const atIdx = argv.indexOf("--pvkit-at");
const pvkitAt = atIdx >= 0 ? argv[atIdx + 1] : undefined;
const useTsx = argv.includes("--tsx");
/** Start pvkit's daemon without XENSTORED_DAEMON_NODE_FLAGS (node's default heap, as before). */
const defaultHeap = argv.includes("--default-heap");
const pvkitNodeFlags = defaultHeap ? [] : [...XENSTORED_DAEMON_NODE_FLAGS];
const daemonCpu = process.env.XSBENCH_DAEMON_CPU ?? "0";
const clientCpu = process.env.XSBENCH_CLIENT_CPU ?? "1";
const pin = availableParallelism() >= 2;
/** `nice` increment for the daemons and clients (negative needs root); default none. */
const niceness = process.env.XSBENCH_NICE;
const loadavg = (): string =>
  readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const loadAtStart = loadavg();

/** The command line with the CPU pinning and niceness applied. */
function wrap(cpu: string, cmd: readonly string[]): string[] {
  const n = niceness !== undefined ? ["nice", "-n", niceness] : [];
  return [...(pin ? ["taskset", "-c", cpu] : []), ...n, ...cmd];
}

// State cleanup() needs, declared before anything can fail.
const work = mkdtempSync(join(tmpdir(), "pvkit-bench-cx-"));
const started: Daemon[] = [];
let cleanedUp = false;
let lockHeld = false;

function fail(msg: string): never {
  console.error(`bench:cxenstored: ${msg}`);
  cleanup();
  process.exit(1);
}

function log(msg: string): void {
  console.error(`[bench:cxenstored] ${msg}`);
}

// ---- step 1: C pieces ----
function newer(src: readonly string[], out: string): boolean {
  if (!existsSync(out)) return true;
  const t = statSync(out).mtimeMs;
  return src.some((s) => statSync(s).mtimeMs > t);
}

function gcc(out: string, src: string, extra: readonly string[]): void {
  const srcPath = join(here, src);
  if (!newer([srcPath], out)) return;
  const args = ["-O2", "-Wall", "-Wextra", "-o", out, srcPath, ...extra];
  log(`gcc ${args.join(" ")}`);
  const r = spawnSync("gcc", args, { stdio: "inherit" });
  if (r.status !== 0) fail(`gcc failed for ${src}${r.error ? `: ${r.error.message}` : ""}`);
}

mkdirSync(build, { recursive: true });
// One run at a time: two would share the cores (and .build's outputs) and spoil both figures.
// A second run waits (up to 30 min) for the first to finish; a lock left by a killed run is taken.
const lockFile = join(build, "run.lock");
for (let waited = 0; ; waited++) {
  try {
    writeFileSync(lockFile, `${process.pid}\n`, { flag: "wx" });
    break;
  } catch {
    let holder = NaN;
    try {
      holder = Number(readFileSync(lockFile, "utf8").trim());
    } catch {
      continue; // released between the two calls
    }
    if (!(Number.isInteger(holder) && holder > 0 && existsSync(`/proc/${holder}`))) {
      rmSync(lockFile, { force: true }); // stale
      continue;
    }
    if (waited === 0)
      log(`another run (pid ${holder}) holds ${lockFile}; waiting for it to finish`);
    if (waited > 900) fail(`another run (pid ${holder}) still holds ${lockFile} after 30 min`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}
lockHeld = true;
function releaseLock(): void {
  if (!lockHeld) return;
  lockHeld = false;
  rmSync(lockFile, { force: true });
}
const xsbench = join(build, "xsbench");
const nullserver = join(build, "nullserver");
const shim = join(build, "xenshim.so");
gcc(xsbench, "xsbench.c", []);
gcc(nullserver, "nullserver.c", []);
gcc(shim, "xenshim.c", ["-shared", "-fPIC", "-ldl"]);

// ---- step 2: cxenstored from Debian's packages ----
/** Returns why cxenstored is unavailable, or undefined when it is ready to run. */
function fetchCxenstored(): string | undefined {
  if (!existsSync(cxenstoredBin)) {
    const debs = join(build, "xen", "debs");
    mkdirSync(debs, { recursive: true });
    const have = () => readdirSync(debs).filter((f) => f.endsWith(".deb"));
    const missing = XEN_DEBS.filter((p) => !have().some((f) => f.startsWith(`${p}_`)));
    if (missing.length > 0) {
      log(`apt-get download ${missing.join(" ")}`);
      let r = spawnSync("apt-get", ["download", ...missing], { cwd: debs, encoding: "utf8" });
      if (r.status !== 0) {
        log("apt-get download failed; trying once more after apt-get update");
        spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
        r = spawnSync("apt-get", ["download", ...missing], { cwd: debs, encoding: "utf8" });
      }
      if (r.status !== 0)
        return `apt-get download failed: ${(r.stderr || r.error?.message || "").trim()}`;
    }
    const tmpRoot = `${xenRoot}.partial`;
    rmSync(tmpRoot, { recursive: true, force: true });
    mkdirSync(tmpRoot, { recursive: true });
    for (const f of have()) {
      const r = spawnSync("dpkg-deb", ["-x", join(debs, f), tmpRoot], { encoding: "utf8" });
      if (r.status !== 0) return `dpkg-deb -x ${f} failed: ${r.stderr.trim()}`;
    }
    rmSync(xenRoot, { recursive: true, force: true });
    spawnSync("mv", [tmpRoot, xenRoot]);
    if (!existsSync(cxenstoredBin)) return `${cxenstoredBin} is not in xen-utils-4.17`;
  }
  const ldd = spawnSync("ldd", [cxenstoredBin], {
    encoding: "utf8",
    env: { ...process.env, LD_LIBRARY_PATH: xenLibDir },
  });
  const notFound = ldd.stdout.split("\n").filter((l) => l.includes("not found"));
  if (notFound.length > 0)
    return `cxenstored's libraries are missing: ${notFound.map((l) => l.trim()).join("; ")}`;
  return undefined;
}

// ---- which pvkit ----
const repoRoot = resolve(pkgDir, "../..");
function git(args: readonly string[]): string {
  const r = spawnSync("git", args, { cwd: repoRoot, encoding: "utf8" });
  if (r.status !== 0) fail(`git ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * The toolstack package directory whose xenstored is measured: this one (the working tree), or
 * with --pvkit-at a copy of the repository at that revision, sharing this tree's node_modules.
 */
function pvkitPackageDir(): { dir: string; describe: string } {
  const head = git(["rev-parse", "--short", "HEAD"]);
  if (pvkitAt === undefined) {
    const dirty = git([
      "status",
      "--porcelain",
      "--",
      "packages/toolstack/src",
      "packages/guest-sdk/src",
      "packages/hypervisor-sim/src",
    ]);
    return {
      dir: pkgDir,
      describe: `pvkit: working tree at ${head}${dirty ? " with uncommitted changes in packages/*/src" : ""}`,
    };
  }
  const commit = git(["rev-parse", "--short", `${pvkitAt}^{commit}`]);
  const tree = join(build, `tree-${commit}`);
  if (!existsSync(join(tree, ".complete"))) {
    log(`exporting ${commit} into ${tree}`);
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree, { recursive: true });
    const r = spawnSync("sh", ["-c", `git archive ${commit} | tar -x -C '${tree}'`], {
      cwd: repoRoot,
      stdio: "inherit",
    });
    if (r.status !== 0) fail(`git archive ${commit} failed`);
    // node_modules: the root one shared by a symlink; each package's (relative links into the
    // root's .pnpm store and to sibling packages) copied as links.
    spawnSync("ln", ["-s", join(repoRoot, "node_modules"), join(tree, "node_modules")]);
    for (const p of readdirSync(join(repoRoot, "packages"))) {
      const nm = join(repoRoot, "packages", p, "node_modules");
      if (existsSync(nm) && existsSync(join(tree, "packages", p)))
        spawnSync("cp", ["-a", nm, join(tree, "packages", p, "node_modules")]);
    }
    writeFileSync(join(tree, ".complete"), `${commit}\n`);
  }
  const dir = join(tree, "packages", "toolstack");
  mkdirSync(join(dir, "bench", "cxenstored"), { recursive: true });
  writeFileSync(
    join(dir, "bench", "cxenstored", "pvkit-daemon.ts"),
    readFileSync(join(here, "pvkit-daemon.ts")),
  );
  return { dir, describe: `pvkit: commit ${commit}` };
}

// ---- daemons ----
interface Daemon {
  readonly name: "pvkit" | "cxenstored" | "null";
  readonly socket: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly logFile: string;
}

/** Whether `pid` runs (a zombie does not: the runner blocks in spawnSync and reaps late). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Stops every daemon started (SIGTERM, SIGKILL after 3 s) and removes the work directory. */
function cleanup(): void {
  releaseLock();
  if (cleanedUp) return;
  cleanedUp = true;
  for (const d of started)
    if (d.child.exitCode === null && d.child.pid !== undefined && alive(d.child.pid))
      d.child.kill("SIGTERM");
  const deadline = Date.now() + 3000;
  for (const d of started) {
    while (d.child.pid !== undefined && alive(d.child.pid) && Date.now() < deadline)
      spawnSync("sleep", ["0.05"]);
    if (d.child.pid !== undefined && alive(d.child.pid)) {
      log(`${d.name} did not stop on SIGTERM; SIGKILL`);
      d.child.kill("SIGKILL");
    }
  }
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping the daemons`);
    cleanup();
    process.exit(130);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolveP) => {
    const s = createConnection(path);
    s.once("connect", () => {
      s.destroy();
      resolveP(true);
    });
    s.once("error", () => resolveP(false));
  });
}

function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-30).join("\n");
  } catch {
    return "(no log)";
  }
}

async function startDaemon(
  name: Daemon["name"],
  cmd: string,
  args: readonly string[],
  socket: string,
  env: NodeJS.ProcessEnv,
  readyFile?: string,
  cwd: string = pkgDir,
): Promise<Daemon> {
  const logFile = join(work, `${name}.log`);
  const fd = openSync(logFile, "w");
  const full = wrap(daemonCpu, [cmd, ...args]);
  log(`starting ${name}: ${full.join(" ")}`);
  const child = spawn(full[0]!, full.slice(1), { stdio: ["ignore", fd, fd], env, cwd });
  closeSync(fd);
  const pending: Daemon = { name, socket, pid: child.pid ?? -1, child, logFile };
  started.push(pending);
  const timeoutMs = 60_000;
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      fail(
        `${name} exited during start-up (${child.exitCode ?? child.signalCode}); its log:\n${logTail(logFile)}`,
      );
    const ready =
      readyFile === undefined ||
      (existsSync(readyFile) && readFileSync(readyFile, "utf8").trim() !== "");
    if (ready && existsSync(socket) && (await canConnect(socket))) break;
    if (Date.now() - t0 > timeoutMs)
      fail(
        `${name} did not come up within ${timeoutMs / 1000} s (socket ${socket}); its log:\n${logTail(logFile)}`,
      );
    await sleep(50);
  }
  // The measured pid is the daemon itself: taskset execs, and pvkit-daemon.ts reports its own.
  const pid = readyFile !== undefined ? Number(readFileSync(readyFile, "utf8").trim()) : child.pid!;
  if (pid !== child.pid)
    fail(`${name}: the ready file names pid ${pid}, but the process started is ${child.pid}`);
  log(`${name} up (pid ${pid}) on ${socket}`);
  return { ...pending, pid };
}

function rssKb(d: Daemon): number {
  return statusKb(readFileSync(`/proc/${d.pid}/status`, "utf8"), "VmRSS");
}

function runXsbench(d: Daemon, args: readonly string[], timeoutS: number): string {
  const full = wrap(clientCpu, [xsbench, ...args]);
  const r = spawnSync(full[0]!, full.slice(1), {
    encoding: "utf8",
    timeout: timeoutS * 1000,
    killSignal: "SIGKILL",
  });
  if (r.error || r.status !== 0) {
    fail(
      `xsbench ${args.join(" ")} against ${d.name} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}\n${d.name}'s log:\n${logTail(d.logFile)}`,
    );
  }
  if (!alive(d.pid)) fail(`${d.name} died; its log:\n${logTail(d.logFile)}`);
  return r.stdout.trim();
}

// ---- the run ----
const wanted = (n: string): boolean => only === undefined || only.has(n);
const daemons: Daemon[] = [];
const nodeBin = process.execPath;

/**
 * Bundles pvkit-daemon.ts with the @pvkit packages' TypeScript sources (condition
 * "@pvkit/source") into one ES module, with esbuild (tsx's own), so the daemon runs on plain
 * node: no tsx loader in its memory (about 45 MB) or an esbuild service beside it. Third-party
 * dependencies stay external, resolved from the package's node_modules at run time.
 */
async function bundleDaemon(toolstackDir: string): Promise<string> {
  // esbuild is tsx's dependency, not ours: loaded through tsx's own resolution, typed by hand.
  type Build = (o: Record<string, unknown>) => Promise<unknown>;
  const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx/package.json"))(
    "esbuild",
  ) as { build: Build };
  const external = new Set<string>();
  const pkgs = join(toolstackDir, "..");
  for (const p of readdirSync(pkgs)) {
    const pj = join(pkgs, p, "package.json");
    if (!existsSync(pj)) continue;
    const deps =
      (JSON.parse(readFileSync(pj, "utf8")) as { dependencies?: Record<string, string> })
        .dependencies ?? {};
    for (const d of Object.keys(deps)) if (!d.startsWith("@pvkit/")) external.add(d);
  }
  const outfile = join(toolstackDir, "bench", "cxenstored", ".build", "pvkit-daemon.mjs");
  await esbuild.build({
    entryPoints: [join(toolstackDir, "bench", "cxenstored", "pvkit-daemon.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["@pvkit/source"],
    external: [...external],
    outfile,
    logLevel: "warning",
  });
  return outfile;
}

let pvkitDescribe = "pvkit: not run";
if (wanted("pvkit")) {
  const sock = join(work, "pvkit.sock");
  const ready = join(work, "pvkit.ready");
  const which = pvkitPackageDir();
  pvkitDescribe = which.describe;
  const script = join(which.dir, "bench", "cxenstored", "pvkit-daemon.ts");
  const args = useTsx
    ? ["--conditions=@pvkit/source", "--import", "tsx", script]
    : [await bundleDaemon(which.dir)];
  pvkitDescribe += useTsx ? " under tsx" : " bundled with esbuild, plain node";
  pvkitDescribe +=
    pvkitNodeFlags.length > 0 ? ` ${pvkitNodeFlags.join(" ")}` : " with node's default heap";
  daemons.push(
    await startDaemon(
      "pvkit",
      nodeBin,
      [...pvkitNodeFlags, ...args, sock, ready],
      sock,
      { ...process.env },
      ready,
      which.dir,
    ),
  );
}
let cxReason: string | undefined;
if (wanted("cxenstored")) {
  cxReason = fetchCxenstored();
  if (cxReason === undefined) {
    const rundir = join(work, "cxenstored");
    mkdirSync(rundir);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      XENSTORED_RUNDIR: rundir,
      LD_LIBRARY_PATH: xenLibDir,
      LD_PRELOAD: shim,
    };
    delete env.XENSTORED_PATH;
    daemons.push(
      await startDaemon("cxenstored", cxenstoredBin, ["-N"], join(rundir, "socket"), env),
    );
  } else {
    log(`cxenstored unavailable, compared against the null server only: ${cxReason}`);
  }
}
if (wanted("null")) {
  const sock = join(work, "null.sock");
  daemons.push(await startDaemon("null", nullserver, [sock], sock, { ...process.env }));
}
if (daemons.length === 0) fail("no daemon to measure");

const memory: {
  start: Record<string, number>;
  after: Record<string, number>;
  end: Record<string, number>;
} = { start: {}, after: {}, end: {} };
for (const d of daemons) {
  runXsbench(d, ["-s", d.socket, "-o", "setup"], 30);
  memory.start[d.name] = rssKb(d);
  runXsbench(d, ["-s", d.socket, "-o", "mem", "-n", String(nodes)], 120);
  await sleep(1000);
  memory.after[d.name] = rssKb(d);
  log(
    `${d.name}: VmRSS ${memory.start[d.name]} kB at start, ${memory.after[d.name]} kB after ${nodes} nodes`,
  );
}

const OPS = [
  { op: "read", label: "READ" },
  { op: "write", label: "WRITE" },
  { op: "dir", label: "DIRECTORY (100 children)" },
  { op: "tx", label: "transaction (START, READ, WRITE, END)" },
] as const;
const MODES = [
  { clients: 1, depth: 1, label: "1 client" },
  { clients: 8, depth: 1, label: "8 clients" },
  { clients: 1, depth: 16, label: "16 in flight" },
] as const;

const cases: CaseRow[] = [];
const raw: { case: string; daemon: string; rep: number; result: XsbenchResult }[] = [];
const runTimeout = seconds + warmup + 60;
for (const o of OPS) {
  for (const m of MODES) {
    const label = `${o.label}, ${m.label}`;
    const results = new Map<string, XsbenchResult[]>();
    for (let rep = 0; rep < reps; rep++) {
      for (const d of daemons) {
        const line = runXsbench(
          d,
          [
            "-s",
            d.socket,
            "-o",
            o.op,
            "-c",
            String(m.clients),
            "-d",
            String(m.depth),
            "-t",
            String(seconds),
            "-w",
            String(warmup),
            "-p",
            String(d.pid),
          ],
          runTimeout,
        );
        const r = parseXsbench(line);
        if (r.errors > 0) fail(`${label} against ${d.name}: ${r.errors} error replies`);
        raw.push({ case: label, daemon: d.name, rep, result: r });
        (results.get(d.name) ?? results.set(d.name, []).get(d.name)!).push(r);
      }
    }
    const row: CaseRow = {
      label,
      opsPerSec: Object.fromEntries([...results].map(([k, rs]) => [k, median(rs.map(opsPerSec))])),
      cpuUs: Object.fromEntries(
        [...results].map(([k, rs]) => [k, median(rs.map(cpuUsPerRequest))]),
      ),
      sysUs: Object.fromEntries(
        [...results].map(([k, rs]) => [k, median(rs.map(sysUsPerRequest))]),
      ),
    };
    cases.push(row);
    log(
      `${label}: ${daemons.map((d) => `${d.name} ${row.opsPerSec[d.name]!.toFixed(0)}/s ${row.cpuUs[d.name]!.toFixed(1)} µs (sys ${row.sysUs![d.name]!.toFixed(1)})`).join(", ")}`,
    );
  }
}
for (const d of daemons) memory.end[d.name] = rssKb(d);

const memRows: MemoryRow[] = [
  { label: "VmRSS after start-up", kb: memory.start },
  {
    label: `VmRSS after writing ${nodes.toLocaleString("en-US").replace(/,/g, " ")} nodes`,
    kb: memory.after,
  },
  {
    label: `VmRSS growth for those nodes`,
    kb: Object.fromEntries(
      Object.keys(memory.after).map((k) => [k, memory.after[k]! - memory.start[k]!]),
    ),
  },
  { label: "VmRSS at the end of the run", kb: memory.end },
];
const table = markdownTable(cases, memRows);
const date = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
const cpuModel =
  /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown CPU";
const cxVersion =
  cxReason === undefined && wanted("cxenstored")
    ? readdirSync(join(build, "xen", "debs"))
        .find((f) => f.startsWith("xen-utils-4.17_"))
        ?.replace(/^xen-utils-4\.17_(.*)_amd64\.deb$/, "$1")
    : undefined;
const notes = [
  `Measured ${date} on ${availableParallelism()} cores (${cpuModel}), ${pin ? `daemon pinned to core ${daemonCpu}, clients to core ${clientCpu}` : "unpinned (one core)"}; ` +
    `load average ${loadAtStart} at the start, ${loadavg()} at the end${niceness !== undefined ? `, nice ${niceness}` : ""}; ` +
    `node ${process.version}; ${pvkitDescribe}; cxenstored ${cxVersion ?? `not run (${cxReason ?? "excluded"})`}. ` +
    `Median of ${reps} runs of ${seconds} s each (after ${warmup} s warm-up); ops/s counts transactions for the transaction rows, µs CPU/req is the daemon's utime + stime per request (4 per transaction), "sys" its stime alone (the kernel: socket reads and writes, the client wake-ups they cause, poll/epoll), each the median of the runs; ` +
    `† marks a case where the faster daemon reaches ${CEILING_SHARE * 100}% of the null server's ops/s (bound by the socket, the scheduler and the client: compare µs CPU/req there).`,
];
console.log(`\n${notes.join("\n")}\n\n${table}`);
writeFileSync(
  join(build, "results.json"),
  JSON.stringify({ date, notes, cases, memory, raw }, null, 2),
);
log(`raw results in ${join(build, "results.json")}`);

if (updateReadme) {
  const readme = join(pkgDir, "README.md");
  const body = `${notes.join("\n")}\n\n${table}`;
  writeFileSync(
    readme,
    replaceBetween(
      readFileSync(readme, "utf8"),
      "<!-- bench:cxenstored:begin -->",
      "<!-- bench:cxenstored:end -->",
      body,
    ),
  );
  log(`table written into ${readme}`);
}
cleanup();
