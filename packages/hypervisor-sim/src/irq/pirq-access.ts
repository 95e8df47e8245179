/**
 * Which PIRQs a domain may bind: `irq_access_permitted()` and XEN_DOMCTL_irq_permission
 * (`xen/common/domctl.c`), the grant the control domain gives a driver domain. The control
 * domain may bind every PIRQ; another domain only those in its `pirqAccess` set.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import type { Domain } from "../domain/domain.js";

/** `irq_access_permitted()`: the control domain may bind every PIRQ; others need a grant. */
export function irqAccessPermitted(d: Domain, pirq: number): boolean {
  return d.isPrivileged || d.pirqAccess.has(pirq);
}

/**
 * XEN_DOMCTL_irq_permission issued by `caller` for domain `d` (undefined: no such domain):
 * 0, -EPERM (not privileged, or the caller has no access to the PIRQ itself), -ESRCH (no such
 * domain, or a dying one), -EINVAL (PIRQ beyond the *caller's* nr_pirqs, as Xen checks).
 */
export function irqPermission(
  caller: Domain,
  d: Domain | undefined,
  pirq: number,
  allow: boolean,
): number {
  if (!caller.isPrivileged) return -XEN_ERRNO.EPERM;
  if (d === undefined || d.isDying) return -XEN_ERRNO.ESRCH;
  if (!Number.isInteger(pirq) || pirq < 0 || pirq >= caller.nrPirqs) return -XEN_ERRNO.EINVAL;
  if (!irqAccessPermitted(caller, pirq)) return -XEN_ERRNO.EPERM;
  if (allow) d.pirqAccess.add(pirq);
  else d.pirqAccess.delete(pirq);
  return 0;
}
