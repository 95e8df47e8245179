/**
 * The commands that talk to a running `pvkit up` through its control socket, as `xl` talks to
 * libxl: `list`, `create`, `destroy`, and `trace` (which reads a trace file, no host needed).
 * `console` is in console.ts.
 */
import { loadChromeTrace, summarizeTrace, TraceFormatError } from "@pvkit/toolstack";
import { loadConfig } from "../config/load-config.js";
import { controlRequest, type DomainInfo } from "../control/control.js";
import { runPaths } from "../control/run-dir.js";
import { CliError } from "./cli-error.js";
import type { Out } from "./output.js";

function pad(s: string | number, n: number, right = false): string {
  const t = String(s);
  return right ? t.padStart(n) : t.padEnd(n);
}

/** `xl list`'s table, with each domain's console and devices. */
export function formatList(domains: readonly DomainInfo[]): string[] {
  const w = Math.max(4, ...domains.map((d) => d.name.length));
  const lines = [`${pad("Name", w)}  ${pad("ID", 4, true)}  ${pad("Mem", 5, true)}  VCPUs  ${pad("State", 8)}  Console`];
  for (const d of domains) {
    lines.push(`${pad(d.name, w)}  ${pad(d.domid, 4, true)}  ${pad(d.memory, 5, true)}  ${pad(d.vcpus, 5, true)}  ${pad(d.state, 8)}  ${d.tty ?? "-"}`);
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

export async function create(configFile: string, opts: { runDir: string }, out: Out): Promise<void> {
  const config = loadConfig(configFile);
  if (config.domains.length === 0) throw new CliError(`${config.file}: no domains to create`);
  const r = await controlRequest(runPaths(opts.runDir).control, { op: "create", config });
  for (const n of r.notes as string[]) out.line(n);
}

export async function destroy(domain: string, opts: { runDir: string }, out: Out): Promise<void> {
  const r = (await controlRequest(runPaths(opts.runDir).control, { op: "destroy", domain })) as { domid: number; name: string; devices: number; timedOut: number };
  out.line(`destroyed d${r.domid} ${r.name} (${r.devices} device(s) closed${r.timedOut > 0 ? `, ${r.timedOut} backend(s) timed out` : ""})`);
}

export async function trace(file: string, opts: { top: number }, out: Out): Promise<void> {
  let t;
  try {
    t = await loadChromeTrace(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") throw new CliError(`trace file ${file}: no such file`);
    if (err instanceof TraceFormatError || err instanceof SyntaxError) throw new CliError(`trace file ${file}: not a pvkit trace: ${e.message}`);
    throw new CliError(`trace file ${file}: ${e.message}`);
  }
  out.line(`trace ${file}:`);
  for (const l of summarizeTrace(t, { top: opts.top })) out.line(l);
}
