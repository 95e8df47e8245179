/**
 * The pure parts of the cxenstored comparison (run.ts): parsing xsbench's result line and
 * /proc/<pid>/status, reducing repeated runs to medians, and the markdown table.
 */

/** One xsbench run, as its result line reports it. */
export interface XsbenchResult {
  /** Operations completed (a transaction counts once, after its TRANSACTION_END succeeded). */
  readonly ops: number;
  /** Requests sent (4 per transaction attempt). */
  readonly reqs: number;
  /** Wall-clock seconds from the common start to the end of the last client. */
  readonly secs: number;
  /** utime + stime the daemon used over those seconds, in clock ticks; -1 if unknown. */
  readonly cpuTicks: number;
  /** The utime part (the daemon's own code), in clock ticks; -1 if unknown. */
  readonly userTicks: number;
  /**
   * The stime part, in clock ticks; -1 if unknown: the kernel working for the daemon (socket
   * reads and writes, the client wake-ups a write causes, poll/epoll).
   */
  readonly sysTicks: number;
  /** Clock ticks per second (`sysconf(_SC_CLK_TCK)`). */
  readonly clkTck: number;
  /** Error replies (any is a failed run). */
  readonly errors: number;
  /** Transactions that ended with EAGAIN and were retried. */
  readonly retries: number;
}

/**
 * Parses xsbench's line
 * `ops=N reqs=N secs=S cpu_ticks=T user_ticks=U sys_ticks=K clk_tck=H errors=E retries=R`.
 * @throws Error if a field is missing or not a number.
 */
export function parseXsbench(line: string): XsbenchResult {
  const fields = new Map<string, number>();
  for (const part of line.trim().split(/\s+/)) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq), Number(part.slice(eq + 1)));
  }
  const get = (k: string): number => {
    const v = fields.get(k);
    if (v === undefined || !Number.isFinite(v))
      throw new Error(`xsbench output lacks ${k}: ${JSON.stringify(line)}`);
    return v;
  };
  return {
    ops: get("ops"),
    reqs: get("reqs"),
    secs: get("secs"),
    cpuTicks: get("cpu_ticks"),
    userTicks: get("user_ticks"),
    sysTicks: get("sys_ticks"),
    clkTck: get("clk_tck"),
    errors: get("errors"),
    retries: get("retries"),
  };
}

/** Operations per second of a run. */
export function opsPerSec(r: XsbenchResult): number {
  return r.ops / r.secs;
}

/** The daemon's CPU per request of a run, in µs; NaN if the CPU time is unknown. */
export function cpuUsPerRequest(r: XsbenchResult): number {
  if (r.cpuTicks < 0 || r.reqs === 0) return Number.NaN;
  return ((r.cpuTicks / r.clkTck) * 1e6) / r.reqs;
}

/** The kernel's part of {@link cpuUsPerRequest} (stime), in µs; NaN if unknown. */
export function sysUsPerRequest(r: XsbenchResult): number {
  if (r.sysTicks < 0 || r.reqs === 0) return Number.NaN;
  return ((r.sysTicks / r.clkTck) * 1e6) / r.reqs;
}

/**
 * A field of /proc/<pid>/status in kB (`VmRSS:     2224 kB`).
 * @throws Error if the field is absent.
 */
export function statusKb(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(status);
  if (!m) throw new Error(`/proc/<pid>/status has no ${field}`);
  return Number(m[1]);
}

/** The median (the upper one of an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)]!;
}

/**
 * One measured case: its label and, per daemon, the median ops/s, µs of CPU per request and the
 * kernel's part of it (system time).
 */
export interface CaseRow {
  readonly label: string;
  readonly opsPerSec: Readonly<Record<string, number>>;
  readonly cpuUs: Readonly<Record<string, number>>;
  readonly sysUs?: Readonly<Record<string, number>>;
}

/** Resident memory per daemon, in kB. */
export interface MemoryRow {
  readonly label: string;
  readonly kb: Readonly<Record<string, number>>;
}

function fmtOps(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "n/a";
  return v >= 1e4 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(0);
}

function fmtUs(v: number | undefined, sys?: number): string {
  if (v === undefined || Number.isNaN(v)) return "n/a";
  return sys === undefined || Number.isNaN(sys)
    ? v.toFixed(1)
    : `${v.toFixed(1)} (sys ${sys.toFixed(1)})`;
}

function fmtRatio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || b === 0)
    return "n/a";
  return `${(a / b).toFixed(2)}×`;
}

/** Share of the null server's ops/s at which a case counts as bound by the ceiling. */
export const CEILING_SHARE = 0.8;

/**
 * Whether a case is bound by the ceiling (socket, scheduler, client) rather than by the daemons:
 * the faster daemon reaches {@link CEILING_SHARE} of the null server's ops/s.
 */
export function ceilingBound(c: CaseRow): boolean {
  const n = c.opsPerSec.null;
  const best = Math.max(c.opsPerSec.pvkit ?? 0, c.opsPerSec.cxenstored ?? 0);
  return n !== undefined && !Number.isNaN(n) && n > 0 && best >= CEILING_SHARE * n;
}

function fmtMb(kb: number | undefined): string {
  return kb === undefined || Number.isNaN(kb) ? "n/a" : `${(kb / 1024).toFixed(1)} MB`;
}

/**
 * The results as one markdown table: per case, pvkit's and cxenstored's ops/s, their ratio
 * (pvkit / cxenstored), each one's µs of CPU per request (with the kernel's part, "sys", when
 * known) and the null server's ops/s; then the
 * memory rows (VmRSS; the ratio column is pvkit / cxenstored there too, lower is better).
 * A ratio marked † is of a case bound by the ceiling ({@link ceilingBound}): there the µs of CPU
 * per request compare the daemons, the ops/s do not.
 */
export function markdownTable(cases: readonly CaseRow[], memory: readonly MemoryRow[]): string {
  const head =
    "| case | pvkit ops/s | cxenstored ops/s | pvkit / cxenstored | pvkit µs CPU/req | cxenstored µs CPU/req | null server ops/s |\n" +
    "|---|---:|---:|---:|---:|---:|---:|\n";
  const rows = cases.map(
    (c) =>
      `| ${c.label} | ${fmtOps(c.opsPerSec.pvkit)} | ${fmtOps(c.opsPerSec.cxenstored)} | ${fmtRatio(c.opsPerSec.pvkit, c.opsPerSec.cxenstored)}${ceilingBound(c) ? " †" : ""} | ${fmtUs(c.cpuUs.pvkit, c.sysUs?.pvkit)} | ${fmtUs(c.cpuUs.cxenstored, c.sysUs?.cxenstored)} | ${fmtOps(c.opsPerSec.null)} |\n`,
  );
  const mem = memory.map(
    (m) =>
      `| ${m.label} | ${fmtMb(m.kb.pvkit)} | ${fmtMb(m.kb.cxenstored)} | ${fmtRatio(m.kb.pvkit, m.kb.cxenstored)} | | | ${fmtMb(m.kb.null)} |\n`,
  );
  return head + rows.join("") + mem.join("");
}

/**
 * Replaces the text between `begin` and `end` marker lines of `doc` with `body`.
 * @throws Error if either marker is missing or they are out of order.
 */
export function replaceBetween(doc: string, begin: string, end: string, body: string): string {
  const b = doc.indexOf(begin);
  const e = doc.indexOf(end);
  if (b < 0 || e < 0 || e < b) throw new Error(`markers ${begin} … ${end} not found in order`);
  return (
    doc.slice(0, b + begin.length) + "\n" + body + (body.endsWith("\n") ? "" : "\n") + doc.slice(e)
  );
}
