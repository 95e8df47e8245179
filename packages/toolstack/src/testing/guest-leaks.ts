/**
 * Leak checks inside guest domains — the frontend side and driver domains, where the dom0 checks
 * of `checkLeaks` (leak-check.ts) do not look. Run them while the domain is still alive, once its
 * drivers have let go of their devices (devices detached or drivers unregistered): a correct
 * driver then holds nothing beyond what the domain builder gave the guest.
 *
 * Found through the simulator's public state (what Xen knows of the guest):
 *
 * - `guest-grant`: an entry of the guest's grant table still grants access (GTF_permit_access
 *   or GTF_accept_transfer), refs 8 and up (0..7 are the toolstack's reserved entries). A grant
 *   whose end was deferred because the peer still maps it (XSA-396) shows here too;
 * - `guest-port`: an event channel bound in the guest beyond its xenstore and console ports;
 * - `guest-grant-mapping`: a grant of another domain the guest still maps (for dom0, not counting
 *   the toolstack's mappings of a live domain's reserved refs: xenstored's ring, the console);
 * - `guest-watch`: a xenstore watch the guest's connection still holds.
 */
import { ECS_NAMES, PvkitError } from "@pvkit/hypervisor-sim";
import { GNTTAB_NR_RESERVED_ENTRIES, GTF } from "@pvkit/hypervisor-sim/abi";
import { inspectDomain } from "@pvkit/hypervisor-sim/inspect";
import type { Host } from "../host/host.js";

export type GuestLeakKind = "guest-grant" | "guest-port" | "guest-grant-mapping" | "guest-watch";

/** One finding in a guest. */
export interface GuestLeak {
  readonly kind: GuestLeakKind;
  readonly domid: number;
  readonly message: string;
}

/** Options of {@link checkGuestLeaks}. */
export interface GuestLeakOptions {
  /** Ports the guest may keep (bound by the test itself, say). */
  readonly allowPorts?: readonly number[];
  /** Watch paths the guest may keep. */
  readonly allowWatches?: readonly string[];
}

/**
 * What domain `domid` (built by `host`) still holds; see the module comment. Dom0 is checked by
 * `checkLeaks`; for it this returns grants and mappings only.
 * @throws Error for a domain Xen does not know.
 */
export function checkGuestLeaks(
  host: Host,
  domid: number,
  opts: GuestLeakOptions = {},
): GuestLeak[] {
  const d = inspectDomain(host.hv, domid);
  if (d === undefined) throw new Error(`checkGuestLeaks: no domain ${domid}`);
  const name = `d${domid} (${d.name})`;
  const leaks: GuestLeak[] = [];
  const gt = d.gnttab;
  for (let ref = GNTTAB_NR_RESERVED_ENTRIES; ref < gt.nrEntries; ref++) {
    const flags = gt.entryFlags(ref);
    if ((flags & GTF.GTF_type_mask) === 0) continue;
    const inUse = (flags & (GTF.GTF_reading | GTF.GTF_writing)) !== 0;
    leaks.push({
      kind: "guest-grant",
      domid,
      message: `${name} still grants ref ${ref} (frame 0x${gt.entryFrame(ref).toString(16)}) to d${gt.entryDomid(ref)}${inUse ? ", and d" + gt.entryDomid(ref) + " still maps it (its end was deferred, XSA-396)" : ""}`,
    });
  }
  for (const [handle, m] of gt.maptrack.entriesDescending()) {
    // Dom0's own mappings of a live domain's reserved refs (xenstored's ring, the console).
    if (domid === 0 && m.ref < GNTTAB_NR_RESERVED_ENTRIES && host.domain(m.domid) !== undefined)
      continue;
    leaks.push({
      kind: "guest-grant-mapping",
      domid,
      message: `${name} still maps grant ref ${m.ref} of d${m.domid} (handle ${handle})`,
    });
  }
  if (domid === 0) return leaks;
  const rec = host.domain(domid);
  const own = new Set<number>([...(opts.allowPorts ?? [])]);
  if (rec !== undefined) {
    own.add(rec.storePort);
    own.add(rec.consolePort);
  }
  const t = d.evtchn;
  for (let port = 1; port < t.validEvtchns; port++) {
    const state = t.state[port]!;
    if (state <= 1 || own.has(port)) continue;
    const kind = ECS_NAMES[state] ?? String(state);
    const peer =
      kind === "INTERDOMAIN"
        ? ` to d${t.remoteDom[port]}:${t.remotePort[port]}`
        : kind === "UNBOUND"
          ? ` for d${t.remoteDom[port]}`
          : kind === "VIRQ"
            ? ` virq ${t.irq[port]}`
            : "";
    leaks.push({
      kind: "guest-port",
      domid,
      message: `${name} port ${port} (${kind}${peer}) left bound`,
    });
  }
  const conn = host.xenstored.domainConnection(domid);
  const allowed = new Set(opts.allowWatches ?? []);
  if (conn !== undefined && !conn.closed) {
    for (const w of conn.watches) {
      if (!allowed.has(w.path))
        leaks.push({
          kind: "guest-watch",
          domid,
          message: `${name} still watches ${w.path} (token ${JSON.stringify(w.token)})`,
        });
    }
  }
  return leaks;
}

/**
 * {@link checkGuestLeaks} for every live domain the host built, and dom0's grants and mappings.
 * @throws GuestLeakError listing every finding, if there is any.
 */
export function assertNoGuestLeaks(host: Host, opts: GuestLeakOptions = {}): void {
  const leaks = [0, ...host.domains.map((d) => d.domid)].flatMap((id) =>
    checkGuestLeaks(host, id, opts),
  );
  if (leaks.length > 0) throw new GuestLeakError(leaks);
}

/** Thrown by {@link assertNoGuestLeaks}; `message` lists the leaks. */
export class GuestLeakError extends PvkitError {
  override readonly name: string = "GuestLeakError";
  declare readonly code: "ERR_LEAK";
  readonly leaks: readonly GuestLeak[];

  constructor(leaks: readonly GuestLeak[]) {
    super(
      "ERR_LEAK",
      `pvkit guest leak check: ${leaks.length} leak${leaks.length === 1 ? "" : "s"}\n${leaks.map((l) => `  - [${l.kind}] ${l.message}`).join("\n")}`,
    );
    this.leaks = leaks;
  }
}
