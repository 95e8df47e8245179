/**
 * Leak checks for a host at the end of a test. Every domain the test left is destroyed first
 * (the full libxl teardown), then the host is searched, through the simulator's and xenstored's
 * public state, for what a correct driver and toolstack leave nothing of:
 *
 * - `domain-lingering`: a destroyed domain Xen still keeps (someone maps its grants);
 * - `domain-running`: (with `requireDestroyed`) a domain the test did not destroy itself;
 * - `crash-unobserved`: a guest's `main` crashed and nobody awaited `done` or listened;
 * - `dom0-port`: an event channel bound in dom0 beyond the host's own (VIRQ_DOM_EXC, the
 *   xenstore rings of live domains);
 * - `dom0-grant-mapping`: a grant mapping dom0 still holds;
 * - `xenstore-watch` / `xenstore-transaction`: left open on a client from `host.openXenstore()`,
 *   a socket client, or the host's own connection;
 * - `xenstore-node`: a node left under `/local/domain/<dead>`, `/libxl/<dead>`, `/vm/<uuid>` of
 *   a dead domain, or a backend directory `.../backend/<kind>/<dead>`;
 * - `ring-transport`: xenstored still serving the ring of a dead domain;
 * - `dom0-handler-error`: an event handler or `events$` subscriber in dom0 threw (a guest's
 *   crashes its domain instead: `crash-unobserved` unless someone saw it).
 */
import { describeBlocked, ECS_NAMES, PvkitError, type Hypervisor } from "@pvkit/hypervisor-sim";
import { inspectDomain } from "@pvkit/hypervisor-sim/inspect";
import type { Host } from "../host/host.js";

export type LeakKind =
  | "domain-lingering"
  | "domain-running"
  | "crash-unobserved"
  | "dom0-port"
  | "dom0-grant-mapping"
  | "xenstore-watch"
  | "xenstore-transaction"
  | "xenstore-node"
  | "ring-transport"
  | "dom0-handler-error";

/** One finding. `message` names the domain, port, path ... */
export interface Leak {
  readonly kind: LeakKind;
  readonly message: string;
}

/** The leak check's result. */
export interface LeakReport {
  readonly leaks: readonly Leak[];
  /** Domains the check destroyed because the test left them. */
  readonly destroyedAtTeardown: readonly number[];
  /** Devices whose backend never reached Closed during that teardown ("d3 vbd/51712"). */
  readonly teardownTimeouts: readonly string[];
}

export interface LeakCheckOptions {
  /** Report domains the test left running as leaks too. Default false (they are just destroyed). */
  readonly requireDestroyed?: boolean;
  /** Backend wait during the teardown of leftover domains, virtual ns. Default 10 s (libxl). */
  readonly teardownTimeoutNs?: number;
}

/** Thrown by the testing entry when a test leaked. `leaks` is the list; `message` shows it. */
export class LeakError extends PvkitError {
  override readonly name: string = "LeakError";
  declare readonly code: "ERR_LEAK";
  readonly leaks: readonly Leak[];

  constructor(leaks: readonly Leak[]) {
    super(
      "ERR_LEAK",
      `pvkit leak check: ${leaks.length} leak${leaks.length === 1 ? "" : "s"}\n${leaks.map((l) => `  - [${l.kind}] ${l.message}`).join("\n")}`,
    );
    this.leaks = leaks;
  }
}

/**
 * Resolves or rejects as `p` does, while the scheduler runs under its quiescence rule: in manual
 * mode this drives it (deliveries, guest continuations, then the next timer); in auto mode the
 * pump does. The same scenario reaches the same virtual timestamps either way.
 * @throws StallError if the host goes quiescent with nothing left to run while `p` is pending
 *   (it would never settle); the error says what each domain is blocked on.
 */
export function drive<T>(hv: Hypervisor, p: Promise<T>, what?: string): Promise<T> {
  return hv.scheduler.until(p, {
    ...(what !== undefined ? { what } : {}),
    describe: () => describeBlocked(hv),
  });
}

/**
 * Destroys what the test left, then collects leaks (see the module comment). The host stays
 * open; `close()` it afterwards.
 */
export async function checkLeaks(host: Host, opts: LeakCheckOptions = {}): Promise<LeakReport> {
  const leaks: Leak[] = [];
  const destroyedAtTeardown: number[] = [];
  const teardownTimeouts: string[] = [];
  const running = host.domains;
  if (opts.requireDestroyed) {
    for (const d of running)
      leaks.push({ kind: "domain-running", message: `d${d.domid} (${d.name}) was left running` });
  }
  for (const d of running) {
    const report = await drive(
      host.hv,
      host.destroyDomain(
        d.domid,
        opts.teardownTimeoutNs !== undefined ? { timeoutNs: opts.teardownTimeoutNs } : {},
      ),
    );
    destroyedAtTeardown.push(d.domid);
    for (const t of report.timedOut) teardownTimeouts.push(`d${d.domid} ${t.kind}/${t.devid}`);
  }
  const inv = host.inventory();

  const deadDomids = new Set<number>();
  const deadUuids = new Set<string>();
  for (const r of inv.domains) {
    if (!r.released) continue;
    deadDomids.add(r.domid);
    deadUuids.add(r.uuid);
    const d = inspectDomain(host.hv, r.domid);
    if (d !== undefined) {
      leaks.push({
        kind: "domain-lingering",
        message: `d${r.domid} (${r.name}) is still ${d.state}: ${d.gnttab.mappedByOthers} of its grants still mapped by other domains`,
      });
    }
    if (r.crashed && !r.crashObserved) {
      leaks.push({
        kind: "crash-unobserved",
        message: `d${r.domid} (${r.name}) crashed and nobody awaited done: ${describe(r.crashError)}`,
      });
    }
    if (inv.transports.has(r.domid))
      leaks.push({
        kind: "ring-transport",
        message: `xenstored still serves the ring of dead d${r.domid}`,
      });
  }

  for (const e of inv.dom0HandlerErrors) {
    leaks.push({
      kind: "dom0-handler-error",
      message: `dom0's handler of port ${e.port} (vcpu ${e.vcpu}) threw: ${describe(e.error)}`,
    });
  }

  const dom0 = inspectDomain(host.hv, 0);
  if (dom0 !== undefined) {
    const own = new Set(inv.ownDom0Ports);
    const t = dom0.evtchn;
    for (let port = 1; port < t.validEvtchns; port++) {
      const state = t.state[port]!;
      if (state <= 1 || own.has(port)) continue;
      const name = ECS_NAMES[state] ?? String(state);
      const peer =
        name === "INTERDOMAIN"
          ? ` to d${t.remoteDom[port]}:${t.remotePort[port]}`
          : name === "UNBOUND"
            ? ` for d${t.remoteDom[port]}`
            : name === "VIRQ"
              ? ` virq ${t.irq[port]}`
              : "";
      leaks.push({ kind: "dom0-port", message: `dom0 port ${port} (${name}${peer}) left bound` });
    }
    for (const [handle, m] of dom0.gnttab.maptrack.entriesDescending()) {
      leaks.push({
        kind: "dom0-grant-mapping",
        message: `dom0 still maps grant ref ${m.ref} of d${m.domid} (handle ${handle}${m.hostGfn !== undefined ? `, gfn 0x${m.hostGfn.toString(16)}` : ""})`,
      });
    }
  }

  const conns = [
    ...inv.clients.map((c, i) => [c, `client #${i + 1} (${c.kind})`] as const),
    ...inv.ownConnections.map((c) => [c, "the host's own connection"] as const),
  ];
  for (const [c, who] of conns) {
    if (c.closed) continue;
    for (const w of c.watches)
      leaks.push({
        kind: "xenstore-watch",
        message: `${who} still watches ${w.path} (token ${JSON.stringify(w.token)})`,
      });
    for (const id of c.transactions.keys())
      leaks.push({ kind: "xenstore-transaction", message: `${who} left transaction ${id} open` });
  }

  for (const path of host.xenstored.paths()) {
    const m = /^\/local\/domain\/(\d+)(\/|$)/.exec(path) ?? /^\/libxl\/(\d+)(\/|$)/.exec(path);
    const b = /^\/local\/domain\/\d+\/backend\/[^/]+\/(\d+)(\/|$)/.exec(path);
    const v = /^\/vm\/([^/]+)(\/|$)/.exec(path);
    const dead =
      (b !== null && deadDomids.has(Number(b[1])) && b[2] === "") ||
      (m !== null && deadDomids.has(Number(m[1])) && m[2] === "") ||
      (v !== null && deadUuids.has(v[1]!) && v[2] === "");
    // Only the top of a leaked subtree is reported.
    if (dead)
      leaks.push({ kind: "xenstore-node", message: `${path} left behind (with its subtree)` });
  }
  return { leaks, destroyedAtTeardown, teardownTimeouts };
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
