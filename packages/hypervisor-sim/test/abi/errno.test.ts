// Expected numbers: /usr/include/xen/errno.h, Xen 4.17 (Linux-compatible numbering).
import { describe, expect, it } from "vitest";
import { XEN_ERRNO, errnoName } from "@pvkit/hypervisor-sim/abi";

/** errno.h, row by row. */
const DOC_ERRNO = {
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
  EILSEQ: 84,
  ERESTART: 85,
  EOPNOTSUPP: 95,
  EISCONN: 106,
} as const;

describe("XEN_ERRNO (errno.h)", () => {
  it.each(Object.entries(DOC_ERRNO))("defines %s = %i", (name, value) => {
    expect((XEN_ERRNO as Record<string, number>)[name]).toBe(value);
  });

  it("gives every errno a distinct value", () => {
    const values = Object.values(XEN_ERRNO);
    expect(new Set(values).size).toBe(values.length);
  });

  it("names an errno whether it is given positive or negative", () => {
    expect(errnoName(-22)).toBe("EINVAL");
    expect(errnoName(22)).toBe("EINVAL");
    expect(errnoName(-85)).toBe("ERESTART");
    expect(errnoName(-10)).toBeUndefined(); // ECHILD: Xen defines it, we model no use of it
  });
});
