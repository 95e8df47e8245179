/** GNTTABOP_* dispatch. PLACEHOLDER until the gnttab work lands. */
import { XEN_ERRNO } from "../abi/errno.js";
import type { Vcpu } from "../domain/vcpu.js";
import type { Hypervisor } from "../hypervisor.js";

export function grantTableOp(_hv: Hypervisor, _v: Vcpu, _cmd: number, _args: unknown, _count: number): number {
  return -XEN_ERRNO.ENOSYS;
}
