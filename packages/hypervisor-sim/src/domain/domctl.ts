/**
 * HYPERVISOR_domctl (36), `domctl.h` (`xen/common/domctl.c`: `do_domctl`), privileged: the one
 * simulated command, XEN_DOMCTL_irq_permission.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { XEN_DOMCTL_irq_permission, type xen_domctl } from "../abi/domctl.js";
import { irqPermission } from "../irq/pirq-access.js";
import type { XenContext } from "../xen-context.js";
import type { Domain } from "./domain.js";

const { ENOSYS, EFAULT, EPERM, ESRCH } = XEN_ERRNO;

/**
 * `caller` issues `op`: -EFAULT (unreadable argument), -ESRCH (unknown domain), -EPERM (not the
 * control domain), -ENOSYS (other commands), in do_domctl's order: copy the argument, look the
 * domain up, the XSM check, then the command.
 */
export function domctl(xen: XenContext, caller: Domain, op: xen_domctl): number {
  if (op === null || typeof op !== "object") return -EFAULT;
  const d = xen.domainById(op.domain);
  if (d === undefined) return -ESRCH;
  if (!caller.isPrivileged) return -EPERM;
  if (op.cmd === XEN_DOMCTL_irq_permission && op.u?.irq_permission !== undefined) {
    const p = op.u.irq_permission;
    return irqPermission(caller, d, p.pirq, p.allow_access !== 0);
  }
  return -ENOSYS;
}
