/**
 * The commands that talk to a running `pvkit up` through its control socket, as `xl` talks to
 * libxl: `list`, `create`, `destroy`, and `trace` (which reads a trace file, no host needed).
 * `console` is in console.ts. The host stack (`@pvkit/toolstack`, the config schema) is imported
 * only by the commands that need it, so `list` and `destroy` start fast.
 */
import { controlRequest, type DomainInfo } from "../control/control.js";
import { runPaths } from "../control/run-dir.js";
import { CliError } from "./cli-error.js";
import type { Out } from "./output.js";
import type { ChromeTrace } from "@pvkit/toolstack";

function pad(s: string | number, n: number, right = false): string {
  const t = String(s);
  return right ? t.padStart(n) : t.padEnd(n);
}

/** `xl list`'s table, with each domain's console and devices. */
export function formatList(domains: readonly DomainInfo[]): string[] {
  const w = Math.max(4, ...domains.map((d) => d.name.length));
  const lines = [
    `${pad("Name", w)}  ${pad("ID", 4, true)}  ${pad("Mem", 5, true)}  VCPUs  ${pad("State", 8)}  Console`,
  ];
  for (const d of domains) {
    lines.push(
      `${pad(d.name, w)}  ${pad(d.domid, 4, true)}  ${pad(d.memory, 5, true)}  ${pad(d.vcpus, 5, true)}  ${pad(d.state, 8)}  ${d.tty ?? "-"}`,
    );
    for (const dev of d.devices) lines.push(`${" ".repeat(w + 2)}  ${dev}`);
  }
  return lines;
}

export async function list(opts: { runDir: string; json: boolean }, out: Out): Promise<void> {
  const r = await controlRequest(runPaths(opts.runDir).control, { op: "list" });
  const domains = r.domains as DomainInfo[];
  if (opts.json) out.line(JSON.stringify(domains, null, 2));
  else for (const l of formatList(domains)) out.line(l);
}

export async function create(
  configFile: string,
  opts: { runDir: string },
  out: Out,
): Promise<void> {
  const { loadConfig } = await import("../config/load-config.js");
  const config = loadConfig(configFile);
  if (config.domains.length === 0) throw new CliError(`${config.file}: no domains to create`);
  const r = await controlRequest(runPaths(opts.runDir).control, { op: "create", config });
  for (const n of r.notes as string[]) out.line(n);
}

/** What the host answers to `destroy` (HostSession.destroy). */
interface DestroyReply {
  readonly domid: number;
  readonly name: string;
  readonly devices: readonly { device: string; outcome: string; waitedNs: number }[];
  readonly timedOut: number;
  readonly virtualNs: number;
  readonly wallMs: number;
}

/** One line: each device's outcome, then the virtual and the real time the destroy took. */
export function formatDestroy(r: DestroyReply): string {
  const devs = r.devices.map(
    (d) =>
      `${d.device} ${d.outcome}${d.outcome === "timeout" ? ` after ${d.waitedNs / 1e9} s of virtual time (its backend never closed)` : ""}`,
  );
  return `destroyed d${r.domid} ${r.name}: ${devs.length === 0 ? "no devices" : devs.join(", ")}; took ${r.virtualNs} ns of virtual time, ${r.wallMs} ms real`;
}

export async function destroy(domain: string, opts: { runDir: string }, out: Out): Promise<void> {
  const r = (await controlRequest(runPaths(opts.runDir).control, {
    op: "destroy",
    domain,
  })) as unknown as DestroyReply;
  out.line(formatDestroy(r));
}

/** Reads a trace file for `trace` and `trace render`; a CliError names the file and why not. */
export async function loadTraceFile(file: string): Promise<ChromeTrace> {
  const { loadChromeTrace, TraceFormatError } = await import("@pvkit/toolstack");
  try {
    return await loadChromeTrace(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") throw new CliError(`trace file ${file}: no such file`);
    if (err instanceof TraceFormatError || err instanceof SyntaxError)
      throw new CliError(`trace file ${file}: not a pvkit trace: ${e.message}`);
    throw new CliError(`trace file ${file}: ${e.message}`);
  }
}

export async function trace(file: string, opts: { top: number }, out: Out): Promise<void> {
  const t = await loadTraceFile(file);
  const { summarizeTrace } = await import("@pvkit/toolstack");
  out.line(`trace ${file}:`);
  for (const l of summarizeTrace(t, { top: opts.top })) out.line(l);
}
