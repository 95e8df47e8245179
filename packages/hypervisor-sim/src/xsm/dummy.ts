/**
 * The XSM "dummy" default policy (`xen/include/xsm/dummy.h`), the three kinds of check the
 * event-channel and grant code use. Each returns 0 or -EPERM.
 */
import { XEN_ERRNO } from "../abi/errno.js";

/** What a check needs to know of a domain. */
export interface XsmSubject {
  readonly domid: number;
  /** The control domain (dom0). */
  readonly isPrivileged: boolean;
  /** For a device-model domain: the domid it serves (`d->target`). */
  readonly target: number | undefined;
}

/** XSM_HOOK: always allowed. */
export function xsmHook(): number {
  return 0;
}

/** XSM_TARGET: self, the target's device model, or the control domain. */
export function xsmTarget(src: XsmSubject, target: XsmSubject): number {
  if (src === target || src.domid === target.domid) return 0;
  if (src.target !== undefined && src.target === target.domid) return 0;
  return xsmPriv(src);
}

/** XSM_PRIV: only the control domain. */
export function xsmPriv(src: XsmSubject): number {
  return src.isPrivileged ? 0 : -XEN_ERRNO.EPERM;
}
