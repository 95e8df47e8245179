/**
 * What differs between Xen's two event-channel ABIs on the guest side (Linux's
 * `struct evtchn_ops` in `drivers/xen/events/events_internal.h`): the per-port bits (mask,
 * unmask, clear pending, is pending/masked), the preparation of a newly bound port, and the
 * per-vCPU event handling inside the upcall. Everything else — port bookkeeping, mask reasons,
 * late EOI, the outer upcall loop — is shared and lives in `port-bindings.ts` and
 * `event-channels.ts`.
 *
 * Implementations: `TwoLevelAbi` (shared_info bitmaps, `events_2l.c`) and `FifoAbi` (event
 * words and per-vCPU queues, `events_fifo.c`). Both are internal to the SDK.
 */
import type { Hypercalls } from "@pvkit/hypervisor-sim";

/** Which event-channel ABI a guest's `EventChannels` speaks. */
export type EventAbiName = "2l" | "fifo";

/** Called for each port the per-vCPU handling finds pending and unmasked, in handling order. */
export type PortHandler = (port: number) => void;

/** Where the calling code runs. @internal */
export interface VcpuContext {
  /** The vCPU the calling code runs on (the upcall's vCPU inside an upcall). */
  current(): number;
  /** Whether vCPU `v` is inside its upcall right now. */
  inUpcall(v: number): boolean;
  /** Hypercalls issued from vCPU `v`. */
  hypercalls(v: number): Hypercalls;
}

/**
 * The ABI-specific operations on a guest's ports (Linux's `evtchn_ops`). Ports are the guest's
 * local port numbers; every call runs on the guest's single thread, so a read-then-write of an
 * event bit stands for the atomic operation a kernel uses. @internal
 */
export interface EventAbi {
  /** The ABI's name. */
  readonly name: EventAbiName;

  /** False once the guest's event pages are gone (the domain was destroyed). */
  readonly alive: boolean;

  /**
   * Makes a port Xen just bound usable (Linux's `evtchn_ops->setup`): FIFO adds event-array
   * pages with EVTCHNOP_expand_array until the port has a word; 2-level has nothing to do.
   * @throws XenError from the hypercall; GrantError when no guest page is left.
   */
  setupPort(port: number): void;

  /** Starts handling `port` on `vcpu` (2-level: Linux's `cpu_evtchn_mask`). */
  addPort(port: number, vcpu: number): void;

  /** Stops handling `port` on `vcpu`. */
  removePort(port: number, vcpu: number): void;

  /** Marks `port` as `vcpu`'s VIRQ_TIMER port (2-level handles it first; FIFO ignores it). */
  setTimerPort(vcpu: number, port: number): void;

  /** Sets the mask bit of `port` (no hypercall). Returns whether it was already set. */
  mask(port: number): boolean;

  /**
   * Clears the mask of `port`, bound to `vcpu`, so that an event pending meanwhile is delivered:
   * locally when the ABI allows it, else with EVTCHNOP_unmask. @throws XenError from the hypercall.
   */
  unmask(port: number, vcpu: number): void;

  /** Clears the pending bit of `port` (the "ack" of an edge event). */
  clearPending(port: number): void;

  /** Whether `port` is pending. */
  isPending(port: number): boolean;

  /** Whether `port` is masked. */
  isMasked(port: number): boolean;

  /**
   * One round of event handling for `cpu`, inside its upcall, after the caller wrote
   * `evtchn_upcall_pending = 0`. `handle` is called for each port found pending and unmasked;
   * it must clear or mask the port. A round that stops with work left sets upcall_pending again.
   */
  handleEvents(cpu: number, handle: PortHandler): void;
}
