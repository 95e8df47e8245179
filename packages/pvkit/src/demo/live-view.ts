/**
 * The demo's live summary: what the host is doing, from the trace recording and xenstore. On a
 * terminal it redraws one block in place (cursor up, clear line); otherwise it prints a plain
 * snapshot when asked, so piped output stays readable.
 */
import { grantCounts, type Host, type TraceRecorder, type XsLocalClient } from "@pvkit/toolstack";
import { xenbusStateName } from "@pvkit/hypervisor-sim/abi";
import type { Out } from "../cli/output.js";

/** Counts the summary shows. */
export interface LiveCounts {
  readonly hypercalls: number;
  readonly xenstoreRequests: number;
  /** EVTCHNOP_send hypercalls that succeeded. */
  readonly notifications: number;
  /** Upcalls delivered to vCPUs. */
  readonly upcalls: number;
  /** Grant mappings held now, all domains. */
  readonly grantsMapped: number;
}

export function liveCounts(rec: TraceRecorder): LiveCounts {
  const records = rec.records();
  let hypercalls = 0;
  let xenstoreRequests = 0;
  let notifications = 0;
  let upcalls = 0;
  for (const r of records) {
    if (r.kind === "hypercall") {
      hypercalls++;
      if (r.cmd === "EVTCHNOP_send" && r.result === 0) notifications++;
    } else if (r.kind === "xenstore") xenstoreRequests++;
    else if (r.kind === "upcall") upcalls++;
  }
  const last = new Map<number, number>();
  for (const g of grantCounts(records)) last.set(g.domid, g.mapped);
  let grantsMapped = 0;
  for (const v of last.values()) grantsMapped += v;
  return { hypercalls, xenstoreRequests, notifications, upcalls, grantsMapped };
}

function stateOf(xs: XsLocalClient, path: string): string {
  try {
    return xenbusStateName(Number(xs.readString(`${path}/state`))).replace(/^XenbusState/, "");
  } catch {
    return "-";
  }
}

/** Lines of the summary now. */
/**
 * Lines of the summary now; `disk` are the block-device lines (requests, their rate), shown
 * under "requests" and "IOPS".
 */
export function summaryLines(
  host: Host,
  xs: XsLocalClient,
  rec: TraceRecorder,
  progress: string,
  lastOutput: string,
  disk: readonly [string, string] | readonly string[] = [],
): string[] {
  const c = liveCounts(rec);
  const lines = [`pvkit demo: ${progress}`, `  virtual time  ${host.hv.now} ns`];
  const doms = host.hv.domains.map(
    (d) =>
      `${d.name} (d${d.domid}, ${d.vcpus.length} vCPU, ${d.options.nrPages / 256} MiB${d.isDying ? ", dying" : ""})`,
  );
  lines.push(`  domains       ${doms.join(", ")}`);
  const devs: string[] = [];
  for (const d of host.domains) {
    const fe = `/local/domain/${d.domid}/device`;
    let types: string[] = [];
    try {
      types = xs.directory(fe);
    } catch {
      // no devices
    }
    for (const type of types) {
      for (const id of xs.directory(`${fe}/${type}`).filter((x) => /^\d+$/.test(x))) {
        let be = "";
        try {
          be = xs.readString(`${fe}/${type}/${id}/backend`);
        } catch {
          // none
        }
        devs.push(
          `d${d.domid} ${type}/${id}: frontend ${stateOf(xs, `${fe}/${type}/${id}`)}, backend ${be ? stateOf(xs, be) : "-"}`,
        );
      }
    }
  }
  lines.push(`  devices       ${devs.length === 0 ? "(none)" : devs[0]}`);
  for (const d of devs.slice(1)) lines.push(`                ${d}`);
  if (disk[0] !== undefined) lines.push(`  requests      ${disk[0]}`);
  if (disk[1] !== undefined) lines.push(`  IOPS          ${disk[1]}`);
  lines.push(`  xenstore      ${c.xenstoreRequests} requests; ${c.hypercalls} hypercalls`);
  lines.push(`  notifications ${c.notifications} event-channel sends, ${c.upcalls} upcalls`);
  lines.push(`  grants        ${c.grantsMapped} mapped by backends now`);
  lines.push(`  console       ${lastOutput === "" ? "-" : lastOutput}`);
  return lines;
}

/** Draws the summary: in place on a terminal, as plain lines otherwise. */
export class LiveView {
  readonly #out: Out;
  #drawn = 0;
  constructor(out: Out) {
    this.#out = out;
  }

  /** Redraws on a terminal; on a pipe does nothing unless `force` (then prints the block). */
  draw(lines: readonly string[], force = false): void {
    if (!this.#out.tty) {
      if (force) for (const l of lines) this.#out.line(l);
      return;
    }
    const w = Math.max(20, this.#out.columns - 1);
    let s = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : "";
    for (const l of lines) s += `\r\x1b[2K${l.length > w ? `${l.slice(0, w - 1)}…` : l}\n`;
    this.#out.write(s);
    this.#drawn = lines.length;
  }

  /** Forgets the block (the next draw starts below it). */
  release(): void {
    this.#drawn = 0;
  }
}
