/**
 * What the public API shows of a domain: its identity, lifecycle and options, read-only. The
 * simulator's own state (pause counts, event-channel and grant tables, the physmap) stays inside
 * the package; a deliberate read-only view of the tables is `@pvkit/hypervisor-sim/inspect`.
 */
import type { DomainState, ResolvedDomainOptions } from "./domain.js";

/** What the public API shows of a vCPU. */
export interface VcpuInfo {
  /** The vCPU id, 0-based. */
  readonly id: number;
  /** Upcalls delivered to it so far (statistics). */
  readonly upcalls: number;
}

/**
 * A domain as `Hypervisor.createDomain`, `domains` and `domainById` return it: read-only. It stays
 * valid (and current) for the domain's life; `state` says when it died.
 */
export interface DomainInfo {
  /** The domain id. */
  readonly domid: number;
  /** Its label for traces and errors. */
  readonly name: string;
  /** The control domain (XSM's privileged domain). */
  readonly isPrivileged: boolean;
  /** For a device-model (stub) domain: the domid it serves (XSM TARGET). */
  readonly target: number | undefined;
  /** Lifecycle: running → dying (killed, others still map its pages) → dead. */
  readonly state: DomainState;
  /** `state !== "running"`. */
  readonly isDying: boolean;
  /** Paused by the toolstack or shut down: no upcalls are delivered. */
  readonly isPaused: boolean;
  /** The SCHEDOP_shutdown reason (SHUTDOWN_*) once shut down. */
  readonly shutdownCode: number | undefined;
  /** Why the domain crashed (an exception thrown by its upcall, say), if it did. */
  readonly crashCause: unknown;
  /** The options it was created with, defaults filled in. */
  readonly options: Readonly<ResolvedDomainOptions>;
  /** Its vCPUs, by id. */
  readonly vcpus: readonly VcpuInfo[];
  /** Where shared_info sits in its physmap (XENMEM_add_to_physmap), or undefined. */
  readonly sharedInfoGfn: number | undefined;
}
