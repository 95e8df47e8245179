/**
 * A domain's event channels (`struct evtchn` array in Xen), stored column-wise in typed arrays
 * indexed by port. Allocation follows 4.17 `get_free_port()`: lowest free port, buckets of 64
 * ports that become "valid" as a whole, port 0 reserved at creation.
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
export const ECS_NAMES: readonly EcsName[] = ["FREE", "RESERVED", "UNBOUND", "INTERDOMAIN", "PIRQ", "VIRQ", "IPI"];

/** Handler of a Xen-consumer channel (`alloc_unbound_xen_event_channel`). */
export type XenConsumer = (port: number) => void;

export class PortTable {
  /** `ECS_*` per port. */
  readonly state: Uint8Array;
  /** Notify vCPU per port. */
  readonly notifyVcpu: Uint16Array;
  /** UNBOUND: the allowed remote domid. INTERDOMAIN: the peer's domid. */
  readonly remoteDom: Uint16Array;
  /** INTERDOMAIN: the peer's port. */
  readonly remotePort: Uint32Array;
  /** VIRQ: the virq number. PIRQ: the pirq number. */
  readonly irq: Uint32Array;
  /** FIFO priority (kept for status and set_priority; 7 is the default). */
  readonly priority: Uint8Array;
  /** Xen-consumer handlers by port. */
  readonly xenConsumer = new Map<number, XenConsumer>();
  /** Ports that Xen considers valid (whole buckets). */
  validEvtchns: number;
  /** Ports currently bound (state > RESERVED). */
  bound = 0;

  constructor(
    /** The ABI limit (4096 for 2-level on x86_64). */
    readonly maxEvtchns: number,
    /** The domain's `max_evtchn_port`. */
    readonly maxEvtchnPort: number,
  ) {
    this.state = new Uint8Array(maxEvtchns);
    this.notifyVcpu = new Uint16Array(maxEvtchns);
    this.remoteDom = new Uint16Array(maxEvtchns);
    this.remotePort = new Uint32Array(maxEvtchns);
    this.irq = new Uint32Array(maxEvtchns);
    this.priority = new Uint8Array(maxEvtchns).fill(7);
    // evtchn_init(): bucket 0 exists and port 0 is reserved.
    this.validEvtchns = EVTCHNS_PER_BUCKET;
    this.state[0] = ECS.RESERVED;
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
   * `get_free_port()`: the lowest FREE port at or below max_evtchn_port and below the ABI limit.
   * Returns the port, or -EINVAL (dying) / -ENOSPC.
   */
  getFreePort(dying: boolean): number {
    if (dying) return -XEN_ERRNO.EINVAL;
    let port = 0;
    for (; port < this.validEvtchns; port++) {
      if (port > this.maxEvtchnPort) return -XEN_ERRNO.ENOSPC;
      if (this.state[port] === ECS.FREE) return port;
    }
    if (port >= this.maxEvtchns || port > this.maxEvtchnPort) return -XEN_ERRNO.ENOSPC;
    this.validEvtchns += EVTCHNS_PER_BUCKET;
    return port;
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

  /** Marks `port` bound in `state` with notify vCPU `vcpu`. */
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
