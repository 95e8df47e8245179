/**
 * The Xen 4.17 public ABI, x86_64: constants with Xen's names and numbers, and byte layouts.
 * Importable on its own as `@pvkit/hypervisor-sim/abi`.
 *
 * @module @pvkit/hypervisor-sim/abi
 */
export * from "./errno.js";
export * from "./xen.js";
export * from "./event-channel.js";
export * from "./grant-table.js";
export * from "./grant-entry.js";
export * from "./sched.js";
export * from "./vcpu.js";
export * from "./memory.js";
export * from "./domctl.js";
export * from "./shared-info.js";
export * from "./struct.js";
export * from "./evtchn-structs.js";
export * from "./gnttab-structs.js";
export * from "./io/index.js";
export * from "./start-info.js";
