/**
 * What the exporter derives from the records rather than reads off them: which hypercall caused
 * which upcall (the flow arrows), and how many grant mappings each domain holds (the counters).
 *
 * A notify and the upcall it causes: `EVTCHNOP_send` (and any hypercall that sets a port pending:
 * unmask, bind_interdomain) raises the remote port *inside* the hypercall, so the hypervisor
 * emits the raise first and the hypercall on exit, with the next sequence number
 * (event_channel.c: evtchn_send → evtchn_port_set_pending). A raise that can lead to delivery
 * (not masked, dropped or waiting for a FIFO page) is then serviced by the next upcall entered on
 * the raised port's notify vCPU (`vcpu_mark_events_pending` → the upcall). Which hypercalls can
 * raise which port is checked (see `caused`), so a VIRQ or timer raise that happens to precede an
 * unrelated hypercall gets no arrow. When the recording dropped records, a raise whose hypercall
 * is missing (its seq is not followed) gets no arrow either.
 */
import type { HypercallRecord, TraceRecord } from "./records.js";

/** Raise outcomes after which no upcall follows for this raise. */
const NO_DELIVERY = new Set(["masked", "dropped", "no-page"]);

/** `DOMID_SELF` (xen.h). */
const DOMID_SELF = 0x7ff0;

/** One arrow: the hypercall record `from` (its `n`) to the upcall record `to`. */
export interface NotifyLink {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  /** The port raised (in the upcall's domain). */
  readonly port: number;
}

interface PendingRaise {
  readonly seq: number;
  readonly domid: number;
  readonly vcpu: number;
  readonly port: number;
  readonly deliverable: boolean;
}

function portArg(args: unknown, key: string): number | undefined {
  const v =
    args !== null && typeof args === "object" ? (args as Record<string, unknown>)[key] : undefined;
  return typeof v === "number" ? v : undefined;
}

/**
 * Event channel bindings learnt from the recording (`EVTCHNOP_bind_interdomain` both ways,
 * removed by `EVTCHNOP_close`), to check that a send's raise is on the peer of the sent port.
 */
class Bindings {
  readonly #peer = new Map<string, string>();

  note(r: HypercallRecord): void {
    if (r.result !== 0) return;
    if (r.cmd === "EVTCHNOP_bind_interdomain") {
      const local = portArg(r.args, "local_port");
      const rport = portArg(r.args, "remote_port");
      let rdom = portArg(r.args, "remote_dom");
      if (local === undefined || rport === undefined || rdom === undefined) return;
      if (rdom === DOMID_SELF) rdom = r.domid;
      this.#peer.set(`${r.domid}:${local}`, `${rdom}:${rport}`);
      this.#peer.set(`${rdom}:${rport}`, `${r.domid}:${local}`);
    } else if (r.cmd === "EVTCHNOP_close") {
      const port = portArg(r.args, "port");
      const key = `${r.domid}:${port}`;
      const peer = this.#peer.get(key);
      this.#peer.delete(key);
      if (peer !== undefined && this.#peer.get(peer) === key) this.#peer.delete(peer);
    }
  }

  peer(domid: number, port: number): string | undefined {
    return this.#peer.get(`${domid}:${port}`);
  }
}

/**
 * Whether hypercall `h` set raise `c`'s port pending, by what each hypercall can raise:
 * EVTCHNOP_send the peer of the sent port (its own vCPU for an IPI; taken on trust when the
 * binding was made before the recording's window), EVTCHNOP_unmask and EVTCHNOP_bind_interdomain
 * their own (local) port, SCHEDOP_shutdown / SCHEDOP_remote_shutdown the VIRQ_DOM_EXC of dom0
 * (domain_shutdown → send_global_virq).
 */
function caused(h: HypercallRecord, c: PendingRaise, bindings: Bindings): boolean {
  switch (h.cmd) {
    case "EVTCHNOP_send": {
      const port = portArg(h.args, "port");
      if (port === undefined) return false;
      const peer = bindings.peer(h.domid, port);
      return peer === undefined || peer === `${c.domid}:${c.port}`;
    }
    case "EVTCHNOP_unmask":
      return c.domid === h.domid && c.port === portArg(h.args, "port");
    case "EVTCHNOP_bind_interdomain":
      return c.domid === h.domid && c.port === portArg(h.args, "local_port");
    case "SCHEDOP_shutdown":
    case "SCHEDOP_remote_shutdown":
      return c.domid === 0;
    default:
      return false;
  }
}

/** Links hypercalls to the upcalls their raises caused; ids 1, 2, … in order of the upcall. */
export function linkNotifications(records: readonly TraceRecord[]): NotifyLink[] {
  const links: NotifyLink[] = [];
  const bindings = new Bindings();
  /** Raises of the chain just seen (consecutive seqs), waiting for the hypercall that follows. */
  let chain: PendingRaise[] = [];
  /** Per "domid:vcpu", raises with a known cause waiting for an upcall. */
  const waiting = new Map<string, { from: number; port: number }[]>();
  let nextId = 1;
  for (const r of records) {
    switch (r.kind) {
      case "raise":
        if (chain.length > 0 && chain[chain.length - 1]!.seq + 1 !== r.seq) chain = [];
        chain.push({
          seq: r.seq,
          domid: r.domid,
          vcpu: r.vcpu,
          port: r.port,
          deliverable: !NO_DELIVERY.has(r.outcome),
        });
        break;
      case "hypercall": {
        if (chain.length > 0 && chain[chain.length - 1]!.seq + 1 === r.seq) {
          for (const c of chain) {
            if (!c.deliverable || !caused(r, c, bindings)) continue;
            const key = `${c.domid}:${c.vcpu}`;
            let w = waiting.get(key);
            if (w === undefined) waiting.set(key, (w = []));
            w.push({ from: r.n, port: c.port });
          }
        }
        chain = [];
        bindings.note(r);
        break;
      }
      case "upcall": {
        chain = [];
        const key = `${r.domid}:${r.vcpu}`;
        const w = waiting.get(key);
        if (w === undefined) break;
        waiting.delete(key);
        for (const x of w) links.push({ id: nextId++, from: x.from, to: r.n, port: x.port });
        break;
      }
      case "timer":
      case "domain":
        chain = [];
        if (r.kind === "domain" && (r.what === "dying" || r.what === "destroyed")) {
          for (const key of [...waiting.keys()])
            if (key.startsWith(`${r.domid}:`)) waiting.delete(key);
        }
        break;
      default:
        break;
    }
  }
  return links;
}

/** A domain's grant-mapping counts after a change. */
export interface GrantCount {
  /** The record that changed it. */
  readonly n: number;
  readonly t: number;
  readonly domid: number;
  /** Grant mappings this domain holds (as the mapper). */
  readonly mapped: number;
  /** This domain's grants that other domains hold mapped. */
  readonly peers: number;
}

function okStatuses(args: unknown): Record<string, unknown>[] {
  if (!Array.isArray(args)) return [];
  return args.filter(
    (a): a is Record<string, unknown> =>
      a !== null && typeof a === "object" && (a as { status?: unknown }).status === 0,
  );
}

/**
 * Grant mappings per domain, from GNTTABOP_map_grant_ref / unmap_grant_ref / unmap_and_replace
 * elements whose status is GNTST_okay (grant_table.c: map_grant_ref, unmap_common), and the
 * mapper's release of all its mappings when it dies (gnttab_release_mappings). Grants a domain
 * merely grants (entries written in its own table) cause no hypercall, so they are not counted.
 */
export function grantCounts(records: readonly TraceRecord[]): GrantCount[] {
  const out: GrantCount[] = [];
  const mapped = new Map<number, number>();
  const peers = new Map<number, number>();
  /** "mapper:handle" → granting domid. */
  const handles = new Map<string, number>();
  const add = (m: Map<number, number>, d: number, k: number): void =>
    void m.set(d, (m.get(d) ?? 0) + k);
  const emit = (r: TraceRecord, touched: Set<number>): void => {
    for (const d of [...touched].sort((a, b) => a - b)) {
      out.push({ n: r.n, t: r.t, domid: d, mapped: mapped.get(d) ?? 0, peers: peers.get(d) ?? 0 });
    }
  };
  for (const r of records) {
    const touched = new Set<number>();
    if (r.kind === "hypercall" && r.hypercall === "grant_table_op") {
      mapHypercall(r, touched);
    } else if (r.kind === "domain" && r.what === "dying") {
      for (const [key, granter] of [...handles]) {
        if (!key.startsWith(`${r.domid}:`)) continue;
        handles.delete(key);
        add(mapped, r.domid, -1);
        add(peers, granter, -1);
        touched.add(r.domid).add(granter);
      }
    }
    if (touched.size > 0) emit(r, touched);
  }
  return out;

  function mapHypercall(r: HypercallRecord, touched: Set<number>): void {
    if (r.cmd === "GNTTABOP_map_grant_ref") {
      for (const a of okStatuses(r.args)) {
        const granter = Number(a.dom);
        handles.set(`${r.domid}:${String(a.handle)}`, granter);
        add(mapped, r.domid, 1);
        add(peers, granter, 1);
        touched.add(r.domid).add(granter);
      }
    } else if (r.cmd === "GNTTABOP_unmap_grant_ref" || r.cmd === "GNTTABOP_unmap_and_replace") {
      for (const a of okStatuses(r.args)) {
        const key = `${r.domid}:${String(a.handle)}`;
        const granter = handles.get(key);
        if (granter === undefined) continue; // mapped before the recording's window
        handles.delete(key);
        add(mapped, r.domid, -1);
        add(peers, granter, -1);
        touched.add(r.domid).add(granter);
      }
    }
  }
}
