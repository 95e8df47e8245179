/**
 * The toolstack's domain-control hypercall of `xen/include/public/domctl.h` (Xen 4.17, x86_64),
 * reduced to what the simulator implements: XEN_DOMCTL_irq_permission, issued by the control
 * domain through HYPERVISOR_domctl (`__HYPERVISOR_domctl`, in `xen.ts`). Each struct is here as
 * the object a caller passes (`Hypercalls.domctl`) and as its C byte layout.
 *
 * What the byte layouts are for: they are the C form of the argument, pinned to the real header
 * by `pnpm abi-check`, and the reference the object interface is checked against (each
 * interface has exactly the layout's top-level members other than padding,
 * `test/abi/hypercall-args.test.ts`). Code that holds an argument as bytes decodes it with them.
 * The simulator's hypercalls never read them: they take the decoded objects.
 *
 * ```
 * xen_domctl (144 bytes)
 *  0     4                   8        10         16                    144
 *  +-----+-------------------+--------+----------+---------------------+
 *  | cmd | interface_version | domain | _pad[3]  | u (128-byte union)  |
 *  +-----+-------------------+--------+----------+---------------------+
 *  u.irq_permission: pirq @16/4, allow_access @20/1
 * ```
 */
import type { domid_t } from "./xen.js";
import type { Layout } from "./struct.js";

/** `XEN_DOMCTL_INTERFACE_VERSION` of Xen 4.17: what `xen_domctl.interface_version` must hold. */
export const XEN_DOMCTL_INTERFACE_VERSION = 0x15;

/** `XEN_DOMCTL_irq_permission`: grant or revoke a domain's access to a PIRQ. */
export const XEN_DOMCTL_irq_permission = 19;

/** `struct xen_domctl_irq_permission { uint32_t pirq; uint8_t allow_access; uint8_t pad[3]; };` */
export interface xen_domctl_irq_permission {
  pirq: number;
  /** 1 to allow, 0 to revoke. */
  allow_access: number;
}
/** `sizeof(struct xen_domctl_irq_permission)`. */
export const XEN_DOMCTL_IRQ_PERMISSION_SIZE = 8;
/** Layout of `struct xen_domctl_irq_permission`. */
export const xen_domctl_irq_permission_layout = {
  pirq: [0, 4],
  allow_access: [4, 1],
  pad: [5, 3],
} as const satisfies Layout;

/**
 * `struct xen_domctl { uint32_t cmd; uint32_t interface_version; domid_t domain;
 *   uint16_t _pad[3]; union { ...; struct xen_domctl_irq_permission irq_permission; ...;
 *   uint8_t pad[128]; } u; };` reduced to the union members the simulator implements. The
 * simulator does not check `interface_version`.
 */
export interface xen_domctl {
  /** A XEN_DOMCTL_* command. */
  cmd: number;
  /** XEN_DOMCTL_INTERFACE_VERSION (not checked by the simulator). */
  interface_version?: number;
  /** The domain the command acts on. */
  domain: domid_t;
  u: { irq_permission?: xen_domctl_irq_permission };
}
/** `sizeof(struct xen_domctl)`. */
export const XEN_DOMCTL_SIZE = 144;
/** Layout of `struct xen_domctl` (the union as its one simulated member). */
export const xen_domctl_layout = {
  cmd: [0, 4],
  interface_version: [4, 4],
  domain: [8, 2],
  _pad: [10, 6],
  u: [16, 128],
  "u.irq_permission": [16, 8],
  "u.irq_permission.pirq": [16, 4],
  "u.irq_permission.allow_access": [20, 1],
} as const satisfies Layout;
