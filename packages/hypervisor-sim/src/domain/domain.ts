/**
 * A domain: identity, privilege, vCPUs, memory, shared_info, event channels, grant table and
 * lifecycle (running → dying → dead). The Hypervisor owns the operations; this is the state.
 */
import { EVTCHN_2L_NR_CHANNELS, LIBXL_DEFAULT_MAX_EVTCHN_PORT } from "../abi/event-channel.js";
import { DEFAULT_MAX_GRANT_FRAMES } from "../abi/grant-table.js";
import { XEN_LEGACY_MAX_VCPUS } from "../abi/xen.js";
import { U32_MAX } from "../abi/struct.js";
import type { Frame, MachineMemory } from "../memory/frame.js";
import { Physmap } from "../memory/physmap.js";
import type { FifoEvents } from "../evtchn/fifo.js";
import { PortTable } from "../evtchn/port-table.js";
import type { GrantTable } from "../gnttab/grant-table.js";
import type { XsmSubject } from "../xsm/dummy.js";
import { Vcpu } from "./vcpu.js";

/** Options of `Hypervisor.createDomain` (XEN_DOMCTL_createdomain + max_mem, as libxl passes them). */
export interface DomainOptions {
  /** A label for traces and errors. */
  name?: string;
  /** vCPUs, 1..32. Default 1. */
  vcpus?: number;
  /** RAM in 4 KiB pages. Default 1024 (4 MiB). */
  nrPages?: number;
  /**
   * `max_evtchn_port` of XEN_DOMCTL_createdomain: the highest port the domain may allocate, a
   * u32 that Xen caps at INT_MAX (`evtchn_init`); the ABI limit (4096 ports on 2-level, 2^17 on
   * FIFO) applies on top. Default: for dom0 (domid 0) INT_MAX, as Xen's `create_dom0` passes -1,
   * so dom0 reaches port 4095 on 2-level; for every other domain 1023, libxl's `event_channels`
   * default (toolstack-built domains).
   */
  maxEvtchnPort?: number;
  /** Maximum grant-table frames. Default 64 (Xen's `gnttab_max_frames`). */
  maxGrantFrames?: number;
  /** Maximum maptrack frames (256 handles each). Default 1024. */
  maxMaptrackFrames?: number;
  /** Number of PIRQs (`d->nr_pirqs`). Default 56 for a domU (24 GSIs + 32), 280 for dom0. */
  nrPirqs?: number;
  /** The control domain. Default: true only for the first domain created (dom0). */
  privileged?: boolean;
  /** For a device-model (stub) domain: the domid it serves (XSM TARGET). */
  target?: number;
  /** Create paused (as the toolstack does before building). Default false. */
  paused?: boolean;
}

/**
 * dom0's `max_evtchn_port`: `create_dom0` (xen/arch/x86/setup.c) passes -1, which `evtchn_init`
 * caps at INT_MAX.
 */
export const DOM0_MAX_EVTCHN_PORT = 0x7fffffff;

/** Lifecycle of a domain. "dying": killed, waiting for foreign mappings of its pages to go. */
export type DomainState = "running" | "dying" | "dead";

export interface ResolvedDomainOptions {
  name: string;
  vcpus: number;
  nrPages: number;
  maxEvtchnPort: number;
  maxGrantFrames: number;
  maxMaptrackFrames: number;
  nrPirqs: number;
  privileged: boolean;
  target: number | undefined;
  paused: boolean;
}

/** Fills in defaults and checks ranges. @throws RangeError */
export function resolveDomainOptions(domid: number, o: DomainOptions): ResolvedDomainOptions {
  const privileged = o.privileged ?? domid === 0;
  const r: ResolvedDomainOptions = {
    name: o.name ?? (domid === 0 ? "Domain-0" : `domain-${domid}`),
    vcpus: o.vcpus ?? 1,
    nrPages: o.nrPages ?? 1024,
    maxEvtchnPort:
      o.maxEvtchnPort ?? (domid === 0 ? DOM0_MAX_EVTCHN_PORT : LIBXL_DEFAULT_MAX_EVTCHN_PORT),
    maxGrantFrames: o.maxGrantFrames ?? DEFAULT_MAX_GRANT_FRAMES,
    maxMaptrackFrames: o.maxMaptrackFrames ?? 1024,
    nrPirqs: o.nrPirqs ?? (privileged ? 280 : 56),
    privileged,
    target: o.target,
    paused: o.paused ?? false,
  };
  const check = (what: string, v: number, lo: number, hi: number): void => {
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new RangeError(`${what} ${v} outside ${lo}..${hi}`);
  };
  check("vcpus", r.vcpus, 1, XEN_LEGACY_MAX_VCPUS);
  check("maxEvtchnPort", r.maxEvtchnPort, 0, U32_MAX);
  // evtchn_init(): d->max_evtchn_port = min(max_port, INT_MAX).
  r.maxEvtchnPort = Math.min(r.maxEvtchnPort, DOM0_MAX_EVTCHN_PORT);
  check("maxGrantFrames", r.maxGrantFrames, 1, 1 << 20);
  check("maxMaptrackFrames", r.maxMaptrackFrames, 1, 1 << 20);
  check("nrPirqs", r.nrPirqs, 0, 1 << 16);
  return r;
}

export class Domain implements XsmSubject {
  readonly name: string;
  readonly isPrivileged: boolean;
  readonly target: number | undefined;
  state: DomainState = "running";
  /** Pause reference count: every reason the domain is not running (toolstack, shutdown). */
  pauseCount = 0;
  /** Pauses made by the toolstack (`controller_pause_count`): what EVTCHNOP_reset asks for. */
  controllerPauseCount = 0;
  /** SCHEDOP_shutdown reason once shut down. */
  shutdownCode: number | undefined;
  readonly vcpus: Vcpu[];
  readonly physmap: Physmap;
  /** Xen's shared_info page for this domain. */
  readonly sharedInfo: Frame;
  readonly evtchn: PortTable;
  /**
   * The FIFO event ABI's state once EVTCHNOP_init_control switched the domain to it; undefined
   * while it uses the 2-level ABI (every raise checks this one field).
   */
  fifo: FifoEvents | undefined;
  readonly nrPirqs: number;
  /** PIRQs this domain may bind (`irq_access_permitted`); dom0 may bind all. */
  readonly pirqAccess = new Set<number>();
  /** `pirq->evtchn`: the port bound to each PIRQ. */
  readonly pirqToEvtchn = new Map<number, number>();
  /** The grant table (set by the Hypervisor right after construction). */
  gnttab!: GrantTable;
  /** Why the domain crashed (an exception thrown by its upcall, say), if it did. */
  crashCause: unknown;
  /** vCPUs blocked in SCHEDOP_poll (Xen's poll_mask, as a count). */
  pollers = 0;
  /** An EVTCHNOP_reset is in progress. */
  resetInProgress = false;
  readonly options: ResolvedDomainOptions;

  constructor(
    readonly domid: number,
    opts: ResolvedDomainOptions,
    machine: MachineMemory,
  ) {
    this.options = opts;
    this.name = opts.name;
    this.isPrivileged = opts.privileged;
    this.target = opts.target;
    this.nrPirqs = opts.nrPirqs;
    this.physmap = new Physmap(domid, opts.nrPages, machine);
    this.sharedInfo = machine.alloc(domid);
    this.evtchn = new PortTable(EVTCHN_2L_NR_CHANNELS, opts.maxEvtchnPort);
    this.vcpus = [];
    for (let i = 0; i < opts.vcpus; i++) this.vcpus.push(new Vcpu(this, i));
    if (opts.paused) {
      this.pauseCount = 1;
      this.controllerPauseCount = 1;
    }
  }

  /**
   * Where shared_info sits in the physmap (placed with XENMEM_add_to_physmap), or undefined: not
   * placed yet, removed, or replaced by something mapped over its GFN.
   */
  get sharedInfoGfn(): number | undefined {
    return this.physmap.gfnOf(this.sharedInfo);
  }

  get isDying(): boolean {
    return this.state !== "running";
  }

  get isPaused(): boolean {
    return this.pauseCount > 0;
  }

  /** The vCPU with this id, or undefined (`domain_vcpu()`). */
  vcpu(id: number): Vcpu | undefined {
    return Number.isInteger(id) && id >= 0 ? this.vcpus[id] : undefined;
  }

  toString(): string {
    return `d${this.domid}`;
  }
}
