/**
 * The scheduler hypercall of `xen/include/public/sched.h` (Xen 4.17, x86_64):
 * HYPERVISOR_sched_op's commands, the shutdown reasons, and the argument structs of the
 * commands the simulator implements (SCHEDOP_shutdown, SCHEDOP_poll), each as the object a
 * guest passes (`Hypercalls.sched_op`) and as its C byte layout.
 *
 * What the byte layouts are for: they are the C form of the argument, pinned to the real header
 * by `pnpm abi-check`, and the reference the object interface is checked against (each
 * interface has exactly the layout's top-level members, `test/abi/hypercall-args.test.ts`).
 * Code that holds an argument as bytes (in guest memory, in a recorded trace) decodes it with
 * them. The simulator's hypercalls never read them: they take the decoded objects.
 *
 * ```
 * sched_poll (24 bytes)            sched_shutdown (4)   sched_remote_shutdown (8)
 *  0           8          12   16       24   0        4     0           2      4        8
 *  +-----------+----------+----+--------+    +--------+     +-----------+------+--------+
 *  | ports     | nr_ports | pad| timeout|    | reason |     | domain_id | pad  | reason |
 *  +-----------+----------+----+--------+    +--------+     +-----------+------+--------+
 * ```
 */
import type { evtchn_port_t } from "./event-channel.js";
import type { Layout } from "./struct.js";

/** `SCHEDOP_*`: the commands of HYPERVISOR_sched_op (29). */
export const SCHEDOP = {
  SCHEDOP_yield: 0,
  SCHEDOP_block: 1,
  SCHEDOP_shutdown: 2,
  SCHEDOP_poll: 3,
  SCHEDOP_remote_shutdown: 4,
  SCHEDOP_shutdown_code: 5,
  SCHEDOP_watchdog: 6,
  SCHEDOP_pin_override: 7,
} as const;

/** `SHUTDOWN_*`: the reasons of SCHEDOP_shutdown (`enum sched_shutdown_reason`). */
export const SHUTDOWN = {
  SHUTDOWN_poweroff: 0,
  SHUTDOWN_reboot: 1,
  SHUTDOWN_suspend: 2,
  SHUTDOWN_crash: 3,
  SHUTDOWN_watchdog: 4,
  SHUTDOWN_soft_reset: 5,
} as const;

/**
 * `struct sched_poll { XEN_GUEST_HANDLE(evtchn_port_t) ports; unsigned int nr_ports; uint64_t timeout; };`
 * (SCHEDOP_poll): block until one of `ports` is pending, or until `timeout`.
 */
export interface sched_poll {
  /** The guest array of ports (the C guest handle). */
  ports: evtchn_port_t[];
  /** How many elements of `ports` to poll, at most 128 (Xen: `nr_ports > 128` is -EINVAL). */
  nr_ports: number;
  /** Absolute system time (ns) to give up at; 0 = no timeout. */
  timeout: number;
}
/** `sizeof(struct sched_poll)`. */
export const SCHED_POLL_SIZE = 24;
/** Layout of `struct sched_poll`: `ports` is an 8-byte guest virtual address of a u32 array. */
export const sched_poll_layout = {
  ports: [0, 8],
  nr_ports: [8, 4],
  timeout: [16, 8],
} as const satisfies Layout;

/** `struct sched_shutdown { unsigned int reason; };` (SCHEDOP_shutdown; reason: SHUTDOWN_*). */
export interface sched_shutdown {
  /** A SHUTDOWN_* reason. */
  reason: number;
}
/** `sizeof(struct sched_shutdown)`. */
export const SCHED_SHUTDOWN_SIZE = 4;
/** Layout of `struct sched_shutdown`. */
export const sched_shutdown_layout = {
  reason: [0, 4],
} as const satisfies Layout;

/**
 * `struct sched_remote_shutdown { domid_t domain_id; unsigned int reason; };`
 * (SCHEDOP_remote_shutdown, a privileged command the simulator answers -ENOSYS).
 */
export interface sched_remote_shutdown {
  domain_id: number;
  /** A SHUTDOWN_* reason. */
  reason: number;
}
/** `sizeof(struct sched_remote_shutdown)`. */
export const SCHED_REMOTE_SHUTDOWN_SIZE = 8;
/** Layout of `struct sched_remote_shutdown`. */
export const sched_remote_shutdown_layout = {
  domain_id: [0, 2],
  reason: [4, 4],
} as const satisfies Layout;
