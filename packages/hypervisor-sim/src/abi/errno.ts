/**
 * Xen errno values (`xen/include/public/errno.h`), Linux-compatible numbering.
 * Hypercalls return 0 or the negative of one of these.
 */
export const XEN_ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ETIME: 62,
  EILSEQ: 84,
  ERESTART: 85,
  EOPNOTSUPP: 95,
  EISCONN: 106,
} as const;

export type XenErrnoName = keyof typeof XEN_ERRNO;

const byValue = new Map<number, XenErrnoName>(
  (Object.entries(XEN_ERRNO) as [XenErrnoName, number][]).map(([k, v]) => [v, k]),
);

/** The errno name for a (positive or negative) errno value, or undefined if Xen defines none. */
export function errnoName(errno: number): XenErrnoName | undefined {
  return byValue.get(Math.abs(errno));
}
