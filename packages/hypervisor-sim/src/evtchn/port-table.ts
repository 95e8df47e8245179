/**
 * A domain's event channels (`struct evtchn` array in Xen), stored column-wise in typed arrays
 * indexed by port. Allocation follows 4.17 `get_free_port()` / `evtchn_allocate_port()`: lowest
 * free port that is not "busy", buckets of 64 ports that become "valid" as a whole, port 0
 * reserved at creation.
 *
 * The columns start sized for the 2-level limit (4096). When the domain switches to FIFO the ABI
 * limit rises to 2^17 (`setAbiLimit`), and the columns grow by doubling only as buckets beyond
 * their capacity are allocated, so a domain pays for 2^17 ports only if it really uses them.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { EVTCHNS_PER_BUCKET } from "../abi/event-channel.js";

/** Xen's internal channel states (`ECS_*`). */
export const ECS = {
  FREE: 0,
  RESERVED: 1,
  UNBOUND: 2,
  INTERDOMAIN: 3,
  PIRQ: 4,
  VIRQ: 5,
  IPI: 6,
} as const;
export type EcsName = keyof typeof ECS;
export const ECS_NAMES: readonly EcsName[] = [
  "FREE",
  "RESERVED",
  "UNBOUND",
  "INTERDOMAIN",
  "PIRQ",
  "VIRQ",
  "IPI",
];

/** Handler of a Xen-consumer channel (`alloc_unbound_xen_event_channel`). */
export type XenConsumer = (port: number) => void;

/** `struct evtchn` fields per port, column-wise; see the file comment. */
export class PortTable {
  /** `ECS_*` per port. */
  state: Uint8Array;
  /** Notify vCPU per port. */
  notifyVcpu: Uint16Array;
  /** UNBOUND: the allowed remote domid. INTERDOMAIN: the peer's domid. */
  remoteDom: Uint16Array;
  /** INTERDOMAIN: the peer's port. */
  remotePort: Uint32Array;
  /** VIRQ: the virq number. PIRQ: the pirq number. */
  irq: Uint32Array;
  /** FIFO priority, 0 (highest) .. 15; EVTCHN_FIFO_PRIORITY_DEFAULT (7) at every bind. */
  priority: Uint8Array;
  /**
   * FIFO `evtchn->pending`: raised while its event-array page was missing, to be raised again
   * when `expand_array` adds the page. Like Xen, nothing ever clears it (not close, not reset).
   */
  fifoPending: Uint8Array;
  /** FIFO `fifo_lastq.last_vcpu_id`: the vCPU whose queue the port was last linked on. */
  lastVcpu: Uint16Array;
  /** FIFO `fifo_lastq.last_priority`: the priority of that queue. */
  lastPriority: Uint8Array;
  /** Xen-consumer handlers by port. */
  readonly xenConsumer = new Map<number, XenConsumer>();
  /** Ports that Xen considers valid (whole buckets). */
  validEvtchns: number;
  /** Ports currently bound (state > RESERVED). */
  bound = 0;
  /**
   * The ABI port limit, `max_evtchns(d)`: EVTCHN_2L_NR_CHANNELS (4096) under 2-level,
   * EVTCHN_FIFO_NR_CHANNELS (2^17) under FIFO. The effective limit is also capped by
   * `maxEvtchnPort + 1`.
   */
  maxEvtchns: number;
  /**
   * The ABI's `is_busy` hook (FIFO: the event word is still LINKED), or undefined (2-level has
   * none). `getFreePort` skips a FREE port for which it answers true.
   */
  isBusy: ((port: number) => boolean) | undefined;

  /**
   * @param maxEvtchns the ABI limit at creation (4096 for 2-level on x86_64); also the initial
   *   capacity of the columns.
   * @param maxEvtchnPort the domain's `max_evtchn_port`.
   */
  constructor(
    maxEvtchns: number,
    /** The domain's `max_evtchn_port`. */
    readonly maxEvtchnPort: number,
  ) {
    this.maxEvtchns = maxEvtchns;
    this.state = new Uint8Array(maxEvtchns);
    this.notifyVcpu = new Uint16Array(maxEvtchns);
    this.remoteDom = new Uint16Array(maxEvtchns);
    this.remotePort = new Uint32Array(maxEvtchns);
    this.irq = new Uint32Array(maxEvtchns);
    this.priority = new Uint8Array(maxEvtchns).fill(7);
    this.fifoPending = new Uint8Array(maxEvtchns);
    this.lastVcpu = new Uint16Array(maxEvtchns);
    this.lastPriority = new Uint8Array(maxEvtchns);
    // evtchn_init(): bucket 0 exists and port 0 is reserved.
    this.validEvtchns = EVTCHNS_PER_BUCKET;
    this.state[0] = ECS.RESERVED;
  }

  /** Ports the columns can hold now (grows by doubling; never shrinks). */
  get capacity(): number {
    return this.state.length;
  }

  /**
   * Changes the ABI limit (`max_evtchns`) when the domain switches event ABI. Ports already valid
   * stay valid, as Xen never frees buckets; allocation honours the new limit from now on.
   */
  setAbiLimit(maxEvtchns: number, isBusy: ((port: number) => boolean) | undefined): void {
    this.maxEvtchns = maxEvtchns;
    this.isBusy = isBusy;
  }

  /** `port_is_valid()`: below the valid (bucket-allocated) range. */
  isValid(port: number): boolean {
    return Number.isInteger(port) && port >= 0 && port < this.validEvtchns;
  }

  /** A channel is "usable" when bound and not a Xen consumer. */
  isUsable(port: number): boolean {
    return this.state[port]! > ECS.RESERVED && !this.xenConsumer.has(port);
  }

  /**
   * `get_free_port()`: the lowest port that is at or below max_evtchn_port, below the ABI limit,
   * FREE and not busy; a port beyond the valid range gets a new bucket. Returns the port, or
   * -EINVAL (dying) / -ENOSPC.
   */
  getFreePort(dying: boolean): number {
    if (dying) return -XEN_ERRNO.EINVAL;
    const busy = this.isBusy;
    for (let port = 0; ; port++) {
      // evtchn_allocate_port(): the limits come before the state check.
      if (port > this.maxEvtchnPort || port >= this.maxEvtchns) return -XEN_ERRNO.ENOSPC;
      if (port >= this.validEvtchns) {
        this.#allocBucket();
        return port;
      }
      if (this.state[port] === ECS.FREE && (busy === undefined || !busy(port))) return port;
    }
  }

  /** Makes the next bucket valid, doubling the columns first if they are full. */
  #allocBucket(): void {
    const need = this.validEvtchns + EVTCHNS_PER_BUCKET;
    if (need > this.capacity) {
      // Never beyond the effective limit, rounded up to a whole bucket.
      const limit = Math.min(this.maxEvtchns, this.maxEvtchnPort + 1);
      const cap = Math.ceil(limit / EVTCHNS_PER_BUCKET) * EVTCHNS_PER_BUCKET;
      this.#grow(Math.max(need, Math.min(this.capacity * 2, cap)));
    }
    this.validEvtchns = need;
  }

  #grow(size: number): void {
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array>(
      old: T,
      make: (n: number) => T,
    ): T => {
      const a = make(size);
      a.set(old);
      return a;
    };
    this.state = grow(this.state, (n) => new Uint8Array(n));
    this.notifyVcpu = grow(this.notifyVcpu, (n) => new Uint16Array(n));
    this.remoteDom = grow(this.remoteDom, (n) => new Uint16Array(n));
    this.remotePort = grow(this.remotePort, (n) => new Uint32Array(n));
    this.irq = grow(this.irq, (n) => new Uint32Array(n));
    const oldCap = this.priority.length;
    this.priority = grow(this.priority, (n) => new Uint8Array(n));
    this.priority.fill(7, oldCap);
    this.fifoPending = grow(this.fifoPending, (n) => new Uint8Array(n));
    this.lastVcpu = grow(this.lastVcpu, (n) => new Uint16Array(n));
    this.lastPriority = grow(this.lastPriority, (n) => new Uint8Array(n));
  }

  /**
   * `alloc_unbound_xen_event_channel()`: an UNBOUND port whose consumer is Xen itself (an ioreq
   * server, a vm_event ring). It notifies `vcpu`; a send from its bound peer calls `fn` instead of
   * raising it. Guests cannot close, send on, re-bind or query it. Returns the port or -errno
   * (-EINVAL dying, -ENOSPC full).
   */
  allocXenConsumer(dying: boolean, vcpu: number, remoteDom: number, fn: XenConsumer): number {
    const port = this.getFreePort(dying);
    if (port < 0) return port;
    this.bind(port, ECS.UNBOUND, vcpu);
    this.remoteDom[port] = remoteDom;
    this.xenConsumer.set(port, fn);
    return port;
  }

  /**
   * Marks a FREE `port` bound in `state` with notify vCPU `vcpu`, and gives it FIFO priority 7
   * (`evtchn_port_init`). Re-binding an already-bound port's state (the remote end of
   * bind_interdomain) is not a bind: Xen does not re-initialise it.
   */
  bind(port: number, state: number, vcpu: number): void {
    if (this.state[port]! <= ECS.RESERVED) this.bound++;
    this.state[port] = state;
    this.notifyVcpu[port] = vcpu;
    this.priority[port] = 7;
  }

  /** `evtchn_free()`: back to FREE with notify vCPU 0 (the caller clears the pending bit). */
  free(port: number): void {
    if (this.state[port]! > ECS.RESERVED) this.bound--;
    this.state[port] = ECS.FREE;
    this.notifyVcpu[port] = 0;
    this.remoteDom[port] = 0;
    this.remotePort[port] = 0;
    this.irq[port] = 0;
    this.xenConsumer.delete(port);
  }
}
