/**
 * xenstored's view of domains (4.17 `xenstored_domain.c`): one record per domain it has heard
 * of, introduced or merely referenced by a permission, with its node and watch counts and the
 * generation count at which the record was created. That generation is the XSA-322 guard: an
 * ACL entry naming a domain created after the node was last written is stale and ignored, so a
 * new domain never inherits rights left behind by an old one with the same domid.
 */
import { DOMID_FIRST_RESERVED } from "@pvkit/hypervisor-sim/abi";
import type { Connection } from "./connection.js";
import { XS_PERM, type XsPerm } from "./perms.js";
import type { NodeRecord } from "./tree.js";
import type { WrlDomainState } from "./write-limit.js";

/** What the host gives xenstored for a domain's ring connection (see {@link XenstoredDomainHooks}). */
export interface DomainTransport {
  /** INTRODUCE of an already-introduced domain: bind the new event channel instead. */
  rebind?(evtchn: number): void;
  /** INTRODUCE reset the connection (`domain_conn_reset`): ring indices back to 0. */
  reset?(): void;
  /** The connection is gone (RELEASE, domain death, xenstored closed): unmap and unbind. */
  close(): void;
}

/** Arguments of an INTRODUCE as xenstored parsed them. */
export interface ConnectDomainRequest {
  readonly domid: number;
  /** The ring's frame as the toolstack passed it (cxenstored ignores it and maps grant ref 1). */
  readonly mfn: number;
  /** The guest's event-channel port to bind interdomain. */
  readonly evtchn: number;
  /** The new connection; the transport feeds it bytes and drains its output. */
  readonly connection: Connection;
}

/**
 * The host side of domain management, which a simulated host implements: cxenstored asks the
 * hypervisor whether a domain exists (`xc_domain_getinfo`) and maps and binds its ring.
 */
export interface XenstoredDomainHooks {
  /**
   * Whether the hypervisor has domain `domid`. Default: every domid below DOMID_FIRST_RESERVED,
   * i.e. xenstored trusts the toolstack.
   */
  domainExists?(domid: number): boolean;
  /**
   * Map the ring and bind the event channel for a newly introduced domain. Return the transport,
   * or an xsd error name to fail the INTRODUCE with. Default: no transport (the connection is
   * driven in-process).
   */
  connectDomain?(req: ConnectDomainRequest): DomainTransport | string;
  /**
   * A deliberate test hook (the test host's `faults.xenstoreEagain`): asked for each commit
   * (TRANSACTION_END `T`) that passed the ENOMEM and ENOSPC checks, with the connection's id
   * (`conn->id`: the domid, 0 for dom0 tools); true fails it with EAGAIN as a conflict would,
   * nothing written. Default: never.
   */
  commitFault?(connId: number): boolean;
}

/** One domain as xenstored tracks it. */
export interface DomainRecord {
  readonly domid: number;
  /** Global generation count when this record was created (not incremented). */
  readonly generation: number;
  introduced: boolean;
  /** Set when the host reports a shutdown; cleared by RESUME. */
  shutdown: boolean;
  /** Nodes owned by this domain. */
  nbentry: number;
  /** Watches registered by this domain's connection. */
  nbwatch: number;
  /** Bytes charged to the domain for the memory quota (see `memory.ts`). */
  memory: number;
  /** Write-rate-limit state while introduced (`write-limit.ts`). */
  wrl: WrlDomainState | undefined;
  /** The pending wake-up of a ring blocked by the write rate limit. */
  wrlTimer: { cancel(): void } | undefined;
  connection: Connection | undefined;
  transport: DomainTransport | undefined;
  evtchn: number;
}

/** The domain table plus the permission lists of the special nodes. */
export class DomainTable {
  #domains = new Map<number, DomainRecord>();
  #exists: (domid: number) => boolean;
  #generation: () => number;
  /** Permissions of `@introduceDomain` and `@releaseDomain` (default `n0`). */
  readonly special: Map<string, XsPerm[]>;

  constructor(exists: ((domid: number) => boolean) | undefined, generation: () => number) {
    this.#exists = exists ?? ((d) => d < DOMID_FIRST_RESERVED);
    this.#generation = generation;
    this.special = new Map([
      ["@introduceDomain", [{ id: 0, perms: 0 }]],
      ["@releaseDomain", [{ id: 0, perms: 0 }]],
    ]);
  }

  /** `find_domain_struct`. */
  find(domid: number): DomainRecord | undefined {
    return this.#domains.get(domid);
  }

  /** `find_domain_by_domid`: only introduced domains. */
  findIntroduced(domid: number): DomainRecord | undefined {
    const d = this.#domains.get(domid);
    return d?.introduced ? d : undefined;
  }

  /** `alloc_domain`: a new record stamped with the current generation. */
  alloc(domid: number): DomainRecord {
    const d: DomainRecord = {
      domid,
      generation: this.#generation(),
      introduced: false,
      shutdown: false,
      nbentry: 0,
      nbwatch: 0,
      memory: 0,
      wrl: undefined,
      wrlTimer: undefined,
      connection: undefined,
      transport: undefined,
      evtchn: 0,
    };
    this.#domains.set(domid, d);
    return d;
  }

  /** `find_or_alloc_existing_domain`: allocates only if the hypervisor has the domain. */
  findOrAllocExisting(domid: number): DomainRecord | undefined {
    return this.#domains.get(domid) ?? (this.#exists(domid) ? this.alloc(domid) : undefined);
  }

  /** Whether the hypervisor has the domain (the host hook). */
  hypervisorHas(domid: number): boolean {
    return this.#exists(domid);
  }

  /** Forgets a domain record. */
  remove(domid: number): void {
    this.#domains.delete(domid);
  }

  /** All records. */
  all(): DomainRecord[] {
    return [...this.#domains.values()];
  }

  /**
   * `domain_alloc_permrefs`: allocates records for listed domains the hypervisor has, and marks
   * entries naming domains that do not exist as IGNORE.
   */
  allocPermRefs(perms: XsPerm[]): void {
    for (const p of perms) {
      if (this.#domains.has(p.id)) continue;
      if (this.#exists(p.id)) this.alloc(p.id);
      else p.perms |= XS_PERM.XS_PERM_IGNORE;
    }
  }

  /**
   * `domain_adjust_node_perms`: marks ACL entries (index >= 1) IGNORE when their domain has no
   * record or its record is younger than the node's last write.
   */
  adjustNodePerms(node: NodeRecord): void {
    for (let i = 1; i < node.perms.length; i++) {
      const p = node.perms[i]!;
      if (p.perms & XS_PERM.XS_PERM_IGNORE) continue;
      const d = this.#domains.get(p.id);
      if (!(d && d.generation <= node.generation)) p.perms |= XS_PERM.XS_PERM_IGNORE;
    }
  }

  /** Whether {@link adjustNodePerms} would change anything on `node` (it has only the owner, mostly). */
  permsNeedAdjust(node: NodeRecord): boolean {
    for (let i = 1; i < node.perms.length; i++) {
      const p = node.perms[i]!;
      if (p.perms & XS_PERM.XS_PERM_IGNORE) continue;
      const d = this.#domains.get(p.id);
      if (!(d && d.generation <= node.generation)) return true;
    }
    return false;
  }

  /** `remove_domid_from_perm` on both special nodes, when a domain goes away. */
  dropFromSpecialPerms(domid: number, privDomid: number): void {
    for (const [name, perms] of this.special) {
      const kept = perms.filter((p, i) => i === 0 || p.id !== domid);
      if (kept[0]!.id === domid) kept[0] = { id: privDomid, perms: kept[0]!.perms };
      this.special.set(name, kept);
    }
  }
}
