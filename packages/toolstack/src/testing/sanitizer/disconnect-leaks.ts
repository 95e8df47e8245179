/**
 * Leaks at device disconnect: once the framework has released one end of a device (its
 * `releaseAll` ran: disconnect, unplug, reconnect), that end's domain must hold nothing more
 * for its peer — no grant to it (refs 8 and up; a grant the peer still maps is the peer's
 * fault and reported there), no mapping of its grants, no port bound to it or unbound for it,
 * no watch under either end's device path, no open transaction. What other, still-live
 * devices of the same domain own (their `resources`) is not counted.
 */
import { ECS, ECS_NAMES } from "@pvkit/hypervisor-sim";
import { GNTTAB_NR_RESERVED_ENTRIES, GTF } from "@pvkit/hypervisor-sim/abi";
import { inspectDomain } from "@pvkit/hypervisor-sim/inspect";
import type { Host } from "../../host/host.js";
import type { FindingKind } from "./findings.js";
import type { DeviceLink } from "./ring-view.js";

/** One leak, before the sanitizer decorates it. */
export interface EndLeak {
  readonly kind: FindingKind;
  readonly domid: number;
  readonly what: string;
  readonly detail: string;
  /** Dedup key, e.g. "grant:1:9". */
  readonly key: string;
}

/** What live devices of a domain own, parsed from their resource names (device-resources.ts). */
export interface OwnedByOthers {
  readonly grants: ReadonlySet<number>;
  readonly mappings: ReadonlySet<string>;
  readonly ports: ReadonlySet<number>;
  readonly watches: ReadonlySet<string>;
}

/** Parses `XenbusDevice.resources` strings ("grant ref 9 (ring page 0)", "port 5 (...)", ...). */
export function ownedBy(resources: readonly string[]): OwnedByOthers {
  const grants = new Set<number>();
  const mappings = new Set<string>();
  const ports = new Set<number>();
  const watches = new Set<string>();
  for (const r of resources) {
    let m: RegExpExecArray | null;
    if ((m = /^grant ref (\d+)/.exec(r))) grants.add(Number(m[1]));
    else if ((m = /mapping of d(\d+) grant ref (\d+)/.exec(r))) mappings.add(`${m[1]}:${m[2]}`);
    else if ((m = /^port (\d+)/.exec(r))) ports.add(Number(m[1]));
    else if ((m = /^watch (.*)$/.exec(r))) watches.add(m[1]!);
  }
  return { grants, mappings, ports, watches };
}

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

/**
 * What domain `domid` (one end of `l`) still holds for its peer. `others` is what its still-live
 * devices own; `allowPorts` the ports the host itself keeps there (xenstore, console, dom0's own).
 */
export function endLeaks(
  host: Host,
  l: DeviceLink,
  side: "front" | "back",
  others: OwnedByOthers,
  allowPorts: ReadonlySet<number>,
): EndLeak[] {
  const domid = side === "front" ? l.frontDomid : l.backDomid;
  const peer = side === "front" ? l.backDomid : l.frontDomid;
  const d = inspectDomain(host.hv, domid);
  if (d === undefined || d.isDying) return [];
  const out: EndLeak[] = [];
  const ringRefs = new Set(l.ring?.refs ?? []);
  const gt = d.gnttab;
  if (side === "front") {
    for (let ref = GNTTAB_NR_RESERVED_ENTRIES; ref < gt.nrEntries; ref++) {
      const flags = gt.entryFlags(ref);
      if (
        (flags & GTF.GTF_type_mask) === 0 ||
        gt.entryDomid(ref) !== peer ||
        others.grants.has(ref)
      )
        continue;
      if ((flags & (GTF.GTF_reading | GTF.GTF_writing)) !== 0) continue; // the peer still maps it: its leak
      const ring = ringRefs.has(ref);
      out.push({
        kind: ring ? "ring-grant-not-ended" : "leaked-grant",
        domid,
        what: `grant ref ${ref}`,
        detail: `${ring ? "the ring grant" : "a grant"} to d${peer} (frame 0x${gt.entryFrame(ref).toString(16)}) is still granted after the device disconnected`,
        key: `grant:${domid}:${ref}`,
      });
    }
  }
  for (const [handle, m] of gt.maptrack.entriesDescending()) {
    if (m.domid !== peer || others.mappings.has(`${m.domid}:${m.ref}`)) continue;
    if (domid === 0 && m.ref < GNTTAB_NR_RESERVED_ENTRIES) continue; // the toolstack's xenstore/console maps
    const ring = ringRefs.has(m.ref);
    out.push({
      kind: ring ? "ring-mapped-after-close" : "leaked-mapping",
      domid,
      what: `grant ref ${m.ref} of d${peer}`,
      detail: `${ring ? "the ring" : "a grant"} is still mapped (handle ${handle}) after the device ${ring ? "reached Closed" : "disconnected"}`,
      key: `map:${domid}:${peer}:${m.ref}`,
    });
  }
  const t = d.evtchn;
  for (let port = 1; port < t.validEvtchns; port++) {
    const st = t.state[port]!;
    if (allowPorts.has(port) || others.ports.has(port)) continue;
    const to = (st === ECS.INTERDOMAIN || st === ECS.UNBOUND) && t.remoteDom[port] === peer;
    if (!to) continue;
    const how =
      st === ECS.INTERDOMAIN ? `bound to d${peer}:${t.remotePort[port]}` : `unbound for d${peer}`;
    out.push({
      kind: "leaked-port",
      domid,
      what: `port ${port}`,
      detail: `${ECS_NAMES[st]} port (${how}) is still open after the device disconnected`,
      key: `port:${domid}:${port}`,
    });
  }
  const conns = domid === 0 ? host.inventory().clients : [host.xenstored.domainConnection(domid)];
  for (const c of conns) {
    if (c === undefined || c.closed) continue;
    for (const w of c.watches) {
      const abs =
        w.path.startsWith("/") || w.path.startsWith("@")
          ? w.path
          : `/local/domain/${domid}/${w.path}`;
      if (others.watches.has(w.path) || !(under(abs, l.frontPath) || under(abs, l.backPath)))
        continue;
      // No token in the message: the SDK's default tokens count up per module (xenbus-client.ts),
      // so they depend on what ran before in the same worker.
      out.push({
        kind: "leaked-watch",
        domid,
        what: `watch ${abs}`,
        detail: "still watched after the device disconnected",
        key: `watch:${domid}:${abs}`,
      });
    }
    if (domid !== 0) {
      for (const id of c.transactions.keys()) {
        out.push({
          kind: "open-transaction",
          domid,
          what: `transaction ${id}`,
          detail: "still open after the device disconnected",
          key: `tx:${domid}:${id}`,
        });
      }
    }
  }
  return out;
}
