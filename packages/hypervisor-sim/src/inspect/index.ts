/**
 * `@pvkit/hypervisor-sim/inspect`: a read-only view of what Xen knows about a domain, for dom0
 * tools, leak checkers and sanitizers — its event-channel ports, the grants in its table and the
 * grants of others it maps, whether a port is pending or masked, the pages of its physmap. Real
 * Xen shows a toolstack the same through `xl debug-keys` dumps (`e` for event channels, `g` for
 * grant tables) and foreign mappings; nothing here changes the simulated machine, and a guest's
 * own code has no business using it.
 *
 * ```ts
 * const d = inspectDomain(hv, domid)!;
 * for (let port = 1; port < d.evtchn.validEvtchns; port++) if (d.evtchn.state[port] === ECS.INTERDOMAIN) …
 * for (const [handle, m] of d.gnttab.maptrack.entriesDescending()) … // grants of others d maps
 * ```
 *
 * @module @pvkit/hypervisor-sim/inspect
 */
import type { DomainInfo } from "../domain/domain-info.js";
import type { Domain } from "../domain/domain.js";
import { portIsMasked, portIsPending, setPending } from "../evtchn/delivery.js";
import type { GrantPins } from "../gnttab/grant-table.js";
import { type Hypervisor, xenOf } from "../hypervisor.js";
import { type Guest, guestDomain } from "../guest.js";
import type { ReadonlyPage } from "../memory/page.js";

/** A domain's event-channel table (`struct evtchn` per port), indexed by port. */
export interface PortsInspection {
  /** Ports below this are allocated (in buckets of 64); port 0 is reserved. */
  readonly validEvtchns: number;
  /** The domain's `max_evtchn_port`. */
  readonly maxEvtchnPort: number;
  /** Ports bound now (state above ECS_RESERVED). */
  readonly bound: number;
  /** The columns' current length (ports the table has room for before it grows). */
  readonly capacity: number;
  /** ECS_* state per port. */
  readonly state: ArrayLike<number>;
  /** The vCPU notified for each port. */
  readonly notifyVcpu: ArrayLike<number>;
  /** Interdomain / unbound: the remote domain. */
  readonly remoteDom: ArrayLike<number>;
  /** Interdomain: the remote port. */
  readonly remotePort: ArrayLike<number>;
  /** PIRQ or VIRQ number of a PIRQ / VIRQ port. */
  readonly irq: ArrayLike<number>;
  /** `port_is_valid()`. */
  isValid(port: number): boolean;
  /** A valid port in use by the guest (not FREE, not a Xen consumer). */
  isUsable(port: number): boolean;
}

/** One grant of another domain that this domain maps (a maptrack entry). */
export interface MappingInspection {
  /** GNTMAP_* flags of the map. */
  readonly flags: number;
  /** The granting domain. */
  readonly domid: number;
  /** The grant ref in the granter's table. */
  readonly ref: number;
  /** Where the mapping sits in this domain's physmap, if it was a host mapping. */
  readonly hostGfn: number | undefined;
}

/** A domain's grant table (v1): its own entries and the grants of others it maps. */
export interface GrantsInspection {
  /** Grant-table frames in use. */
  readonly nrFrames: number;
  /** Entries (refs) in those frames. */
  readonly nrEntries: number;
  /** The domain's maximum number of grant frames. */
  readonly maxFrames: number;
  /** Grants of this domain that other domains map now. */
  readonly mappedByOthers: number;
  /** GTF_* flags of entry `ref`. */
  entryFlags(ref: number): number;
  /** The domain entry `ref` grants to. */
  entryDomid(ref: number): number;
  /** The frame (GFN) entry `ref` grants. */
  entryFrame(ref: number): number;
  /** Whether someone maps `ref` now (any pin count non-zero). */
  isPinned(ref: number): boolean;
  /** Pin counts of `ref`. */
  pins(ref: number): Readonly<GrantPins>;
  /** Where grant-table frame `i` sits in the domain's physmap, or undefined. */
  frameGfn(i: number): number | undefined;
  /** The grants of others this domain maps, by handle. */
  readonly maptrack: {
    entriesDescending(): IterableIterator<[handle: number, entry: MappingInspection]>;
  };
}

/** A machine frame as inspection shows it: its number and its bytes (read them only). */
export interface FrameInspection {
  /** Machine frame number. */
  readonly mfn: number;
  /** The frame's bytes. */
  readonly dv: DataView;
  /** The same bytes as an array. */
  readonly bytes: Uint8Array;
}

/** A domain's physmap (GFN → page). */
export interface PhysmapInspection {
  /** RAM size in 4 KiB pages. */
  readonly nrPages: number;
  /** RAM pages the domain holds now (XENMEM_current_reservation). */
  readonly populated: number;
  /** The page at `gfn`. @throws RangeError for a hole. */
  page(gfn: number): ReadonlyPage;
  /** The frame at `gfn`, or undefined for a hole. */
  frame(gfn: number): FrameInspection | undefined;
  /** Whether nothing is mapped at `gfn`. */
  isHole(gfn: number): boolean;
}

/** Everything inspection shows of one domain: {@link DomainInfo} and its tables. */
export interface DomainInspection extends DomainInfo {
  /** Its event-channel ports. */
  readonly evtchn: PortsInspection;
  /** Its grant table. */
  readonly gnttab: GrantsInspection;
  /** Its physmap. */
  readonly physmap: PhysmapInspection;
  /** Whether `port` is pending: its shared_info bit, or FIFO's PENDING. */
  portIsPending(port: number): boolean;
  /** Whether `port` is masked: its shared_info bit, or FIFO's MASKED. */
  portIsMasked(port: number): boolean;
  /** Whether the domain switched to the FIFO event ABI (EVTCHNOP_init_control). */
  readonly usesFifo: boolean;
}

class Inspected implements DomainInspection {
  readonly #d: Domain;
  constructor(d: Domain) {
    this.#d = d;
  }
  get domid(): number {
    return this.#d.domid;
  }
  get name(): string {
    return this.#d.name;
  }
  get isPrivileged(): boolean {
    return this.#d.isPrivileged;
  }
  get target(): number | undefined {
    return this.#d.target;
  }
  get state(): DomainInfo["state"] {
    return this.#d.state;
  }
  get isDying(): boolean {
    return this.#d.isDying;
  }
  get isPaused(): boolean {
    return this.#d.isPaused;
  }
  get shutdownCode(): number | undefined {
    return this.#d.shutdownCode;
  }
  get crashCause(): unknown {
    return this.#d.crashCause;
  }
  get options(): DomainInfo["options"] {
    return this.#d.options;
  }
  get vcpus(): DomainInfo["vcpus"] {
    return this.#d.vcpus;
  }
  get sharedInfoGfn(): number | undefined {
    return this.#d.sharedInfoGfn;
  }
  get evtchn(): PortsInspection {
    return this.#d.evtchn;
  }
  get gnttab(): GrantsInspection {
    return this.#d.gnttab;
  }
  get physmap(): PhysmapInspection {
    return this.#d.physmap;
  }
  get usesFifo(): boolean {
    return this.#d.fifo !== undefined;
  }
  portIsPending(port: number): boolean {
    return portIsPending(this.#d, port);
  }
  portIsMasked(port: number): boolean {
    return portIsMasked(this.#d, port);
  }
}

/** The inspection of domain `domid` (running or dying), or undefined when Xen does not know it. */
export function inspectDomain(hv: Hypervisor, domid: number): DomainInspection | undefined {
  const d = xenOf(hv).domainById(domid);
  return d === undefined ? undefined : new Inspected(d);
}

/** The inspection of every domain Xen still knows (running or dying), by creation order. */
export function inspectDomains(hv: Hypervisor): DomainInspection[] {
  return xenOf(hv).domains.map((d) => new Inspected(d));
}

/**
 * Fault injection for test tooling (a hostile peer): `evtchn_port_set_pending()` on `port` of
 * `domid`, as an EVTCHNOP_send from its peer would raise it, without the peer issuing the
 * hypercall (no hypercall trace, no upcall check on the sender). Nothing for an unknown or
 * dying domain. Unlike the rest of this module it changes the machine: use it only to play a
 * misbehaving domain.
 */
export function injectEvent(hv: Hypervisor, domid: number, port: number): void {
  const xen = xenOf(hv);
  const d = xen.domainById(domid);
  if (d !== undefined && !d.isDying) setPending(xen, d, port);
}

/**
 * The inspection of the domain behind `guest` when it is a guest view of a domain `hv` still
 * knows (the same domain, not an earlier one with the same domid, nor another host's); else
 * undefined.
 */
export function inspectGuest(hv: Hypervisor, guest: Guest): DomainInspection | undefined {
  const d = guestDomain(guest);
  return xenOf(hv).domainById(d.domid) === d ? new Inspected(d) : undefined;
}
