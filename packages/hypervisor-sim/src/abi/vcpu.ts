/**
 * The vCPU hypercall of `xen/include/public/vcpu.h` (Xen 4.17, x86_64): HYPERVISOR_vcpu_op's
 * commands and the argument structs of the timer and runstate commands, each as the object a
 * guest passes (`Hypercalls.vcpu_op`) and as its C byte layout.
 *
 * What the byte layouts are for: they are the C form of the argument, pinned to the real header
 * by `pnpm abi-check`, and the reference the object interface is checked against (each
 * interface has exactly the layout's top-level members, `test/abi/hypercall-args.test.ts`).
 * Code that holds an argument as bytes (in guest memory, in a recorded trace) decodes it with
 * them. The simulator's hypercalls never read them: they take the decoded objects.
 *
 * ```
 * vcpu_set_singleshot_timer (16)        vcpu_runstate_info (48)
 *  0                8       12   16      0       4     8                  16                 48
 *  +----------------+-------+----+       +-------+-----+------------------+------------------+
 *  | timeout_abs_ns | flags | pad|       | state | pad | state_entry_time | time[4] (u64 ns) |
 *  +----------------+-------+----+       +-------+-----+------------------+------------------+
 * ```
 */
import type { Layout } from "./struct.js";

/** `VCPUOP_*`: the commands of HYPERVISOR_vcpu_op (24). */
export const VCPUOP = {
  VCPUOP_initialise: 0,
  VCPUOP_up: 1,
  VCPUOP_down: 2,
  VCPUOP_is_up: 3,
  VCPUOP_get_runstate_info: 4,
  VCPUOP_register_runstate_memory_area: 5,
  VCPUOP_set_periodic_timer: 6,
  VCPUOP_stop_periodic_timer: 7,
  VCPUOP_set_singleshot_timer: 8,
  VCPUOP_stop_singleshot_timer: 9,
  VCPUOP_register_vcpu_info: 10,
  VCPUOP_send_nmi: 11,
  VCPUOP_get_physid: 12,
  VCPUOP_register_vcpu_time_memory_area: 13,
} as const;

/** `VCPU_SSHOTTMR_future`: fail with -ETIME if the timeout is already in the past. */
export const VCPU_SSHOTTMR_future = 1 << 0;

/**
 * `struct vcpu_set_singleshot_timer { uint64_t timeout_abs_ns; uint32_t flags; };`
 * (VCPUOP_set_singleshot_timer, which fires VIRQ_TIMER).
 */
export interface vcpu_set_singleshot_timer {
  /** Absolute system time, ns. */
  timeout_abs_ns: number;
  /** VCPU_SSHOTTMR_* bits. */
  flags: number;
}
/** `sizeof(struct vcpu_set_singleshot_timer)`: padded to 16 bytes. */
export const VCPU_SET_SINGLESHOT_TIMER_SIZE = 16;
/** Layout of `struct vcpu_set_singleshot_timer`. */
export const vcpu_set_singleshot_timer_layout = {
  timeout_abs_ns: [0, 8],
  flags: [8, 4],
} as const satisfies Layout;

/** `RUNSTATE_*`: the states of `vcpu_runstate_info.state`. */
export const RUNSTATE = {
  RUNSTATE_running: 0,
  RUNSTATE_runnable: 1,
  RUNSTATE_blocked: 2,
  RUNSTATE_offline: 3,
} as const;

/**
 * `struct vcpu_runstate_info { int state; uint64_t state_entry_time; uint64_t time[4]; };`
 * (VCPUOP_get_runstate_info, and the area of VCPUOP_register_runstate_memory_area). The
 * simulator implements neither command (-ENOSYS); the struct is here for guests that probe it.
 */
export interface vcpu_runstate_info {
  /** A RUNSTATE_* value. */
  state: number;
  /** System time (ns) when `state` was entered. */
  state_entry_time: number;
  /** Time (ns) spent in each RUNSTATE_*, indexed by state. */
  time: [number, number, number, number];
}
/** `sizeof(struct vcpu_runstate_info)`. */
export const VCPU_RUNSTATE_INFO_SIZE = 48;
/** Layout of `struct vcpu_runstate_info`. */
export const vcpu_runstate_info_layout = {
  state: [0, 4],
  state_entry_time: [8, 8],
  time: [16, 32],
} as const satisfies Layout;

/**
 * `struct vcpu_register_runstate_memory_area { union { XEN_GUEST_HANDLE(vcpu_runstate_info_t) h;
 *   struct vcpu_runstate_info *v; uint64_t p; } addr; };` (VCPUOP_register_runstate_memory_area):
 * the guest virtual address where Xen keeps the vCPU's `vcpu_runstate_info` up to date.
 */
export interface vcpu_register_runstate_memory_area {
  addr: {
    /** The guest virtual address, as a u64. */
    p: number;
  };
}
/** `sizeof(struct vcpu_register_runstate_memory_area)`. */
export const VCPU_REGISTER_RUNSTATE_MEMORY_AREA_SIZE = 8;
/** Layout of `struct vcpu_register_runstate_memory_area`. */
export const vcpu_register_runstate_memory_area_layout = {
  addr: [0, 8],
  "addr.p": [0, 8],
} as const satisfies Layout;
