/**
 * A virtual CPU: its vcpu_info slot, registered upcall, VIRQ bindings, one-shot timer and the
 * SCHEDOP_block / SCHEDOP_poll waits of an async guest.
 */
import { NR_VIRQS } from "../abi/xen.js";
import {
  VCPU_INFO_UPCALL_MASK,
  VCPU_INFO_UPCALL_PENDING,
  shinfoVcpuInfo,
} from "../abi/shared-info.js";
import type { TimerHandle } from "../sched/scheduler.js";
import type { TwoLevelTarget } from "../evtchn/two-level.js";
import type { Domain } from "./domain.js";

/** The guest's event upcall: called with the vCPU id when Xen injects an upcall. */
export type UpcallHandler = (vcpu: number) => void;

/** A vCPU blocked in SCHEDOP_poll. */
export interface PollWait {
  ports: readonly number[];
  timer: TimerHandle | undefined;
  resolve: (rc: number) => void;
}

export class Vcpu implements TwoLevelTarget {
  /** Registered upcall (HVMOP_set_evtchn_upcall_vector / CALLBACKOP_register equivalent). */
  upcall: UpcallHandler | undefined;
  /** A kick is queued on the scheduler. */
  kickQueued = false;
  /** Running inside its upcall right now. */
  inUpcall = false;
  /** `virq_to_evtchn[]`: the port bound to each VIRQ on this vCPU (0 = none). */
  readonly virqToEvtchn = new Uint32Array(NR_VIRQS);
  /** The armed single-shot timer, if any (its `at` is the deadline, ns). */
  singleshot: TimerHandle | undefined;
  /** SCHEDOP_block waiters. */
  blockWaiters: (() => void)[] = [];
  /** SCHEDOP_poll waiter. */
  poll: PollWait | undefined;
  /** Upcalls delivered (statistics). */
  upcalls = 0;
  /** Virtual time of the last vcpu_time_info update (-1: never). */
  timeUpdatedAt = -1;
  /** The delivery task body, created once (the hypervisor sets it). */
  deliver: () => void = () => {};

  readonly vcpuInfo: Uint8Array;
  readonly vcpuInfoOffset: number;

  constructor(
    readonly domain: Domain,
    readonly id: number,
  ) {
    this.vcpuInfo = domain.sharedInfo.bytes;
    this.vcpuInfoOffset = shinfoVcpuInfo(id);
  }

  get shinfo(): Uint8Array {
    return this.domain.sharedInfo.bytes;
  }

  get upcallPending(): boolean {
    return (this.vcpuInfo[this.vcpuInfoOffset + VCPU_INFO_UPCALL_PENDING]! & 1) !== 0;
  }

  get upcallMask(): number {
    return this.vcpuInfo[this.vcpuInfoOffset + VCPU_INFO_UPCALL_MASK]!;
  }

  set upcallMask(v: number) {
    this.vcpuInfo[this.vcpuInfoOffset + VCPU_INFO_UPCALL_MASK] = v;
  }

  /** `local_events_need_delivery()`: upcall pending and not masked. */
  get eventsNeedDelivery(): boolean {
    return this.upcallPending && this.upcallMask === 0;
  }
}
