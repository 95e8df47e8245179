/**
 * The XenStore wire protocol of `xen/include/public/io/xs_wire.h` (Xen 4.17): the message
 * header, the `XS_*` message types, the error-name table and the protocol limits. The ring page
 * that carries these messages for a domain is in `xenstore-ring.ts`; the message codec (encoder,
 * incremental parser, payload strings) is in `xs-wire-codec.ts`.
 *
 * ```
 * struct xsd_sockmsg {   offset  size
 *     uint32_t type;     0       4     XS_*
 *     uint32_t req_id;   4       4     echoed in the reply
 *     uint32_t tx_id;    8       4     transaction id, 0 for none
 *     uint32_t len;      12      4     payload bytes that follow (<= XENSTORE_PAYLOAD_MAX)
 * };                     sizeof = 16, then `len` payload bytes (NUL-separated strings)
 * ```
 */
import type { Layout } from "../struct.js";

/** `struct xsd_sockmsg` layout (all little-endian u32). */
export const xsd_sockmsg = {
  type: [0, 4],
  req_id: [4, 4],
  tx_id: [8, 4],
  len: [12, 4],
} as const satisfies Layout;

/** `sizeof(struct xsd_sockmsg)` in bytes. */
export const XSD_SOCKMSG_SIZE = 16;

/**
 * `enum xsd_sockmsg_type` of Xen 4.17. Number 20 (XS_RESTRICT) was removed; 23 is
 * `XS_TYPE_COUNT` in 4.17 (newer Xen reuses 23..26 for GET/SET_FEATURE and GET/SET_QUOTA).
 */
export const XS = {
  XS_CONTROL: 0,
  XS_DIRECTORY: 1,
  XS_READ: 2,
  XS_GET_PERMS: 3,
  XS_WATCH: 4,
  XS_UNWATCH: 5,
  XS_TRANSACTION_START: 6,
  XS_TRANSACTION_END: 7,
  XS_INTRODUCE: 8,
  XS_RELEASE: 9,
  XS_GET_DOMAIN_PATH: 10,
  XS_WRITE: 11,
  XS_MKDIR: 12,
  XS_RM: 13,
  XS_SET_PERMS: 14,
  XS_WATCH_EVENT: 15,
  XS_ERROR: 16,
  XS_IS_DOMAIN_INTRODUCED: 17,
  XS_RESUME: 18,
  XS_SET_TARGET: 19,
  XS_RESET_WATCHES: 21,
  XS_DIRECTORY_PART: 22,
} as const;
export type XsTypeName = keyof typeof XS;

/** `XS_DEBUG` is an alias of `XS_CONTROL`. */
export const XS_DEBUG = XS.XS_CONTROL;
/** `XS_TYPE_COUNT` in 4.17: one past the highest valid type. */
export const XS_TYPE_COUNT = 23;
/** `XS_INVALID`: guaranteed never to be a valid type. */
export const XS_INVALID = 0xffff;

const xsNameByNumber = new Map<number, XsTypeName>(
  (Object.entries(XS) as [XsTypeName, number][]).map(([k, v]) => [v, k]),
);

/** The `XS_*` name of a message type number, or undefined for a number 4.17 does not define. */
export function xsTypeName(type: number): XsTypeName | undefined {
  return xsNameByNumber.get(type);
}

/**
 * `xsd_errors[]`: the errno names xenstored may send in an `XS_ERROR` payload, in the header's
 * order (new names are only ever appended). libxenstore maps an unknown name to EINVAL.
 */
export const xsd_errors = [
  "EINVAL",
  "EACCES",
  "EEXIST",
  "EISDIR",
  "ENOENT",
  "ENOMEM",
  "ENOSPC",
  "EIO",
  "ENOTEMPTY",
  "ENOSYS",
  "EROFS",
  "EBUSY",
  "EAGAIN",
  "EISCONN",
  "E2BIG",
  "EPERM",
] as const;
export type XsdErrorName = (typeof xsd_errors)[number];

/** Whether `name` is one of the `xsd_errors` names. */
export function isXsdErrorName(name: string): name is XsdErrorName {
  return (xsd_errors as readonly string[]).includes(name);
}

/** `enum xs_watch_type`: string indices in a WATCH_EVENT payload. */
export const XS_WATCH_PATH = 0;
export const XS_WATCH_TOKEN = 1;

/** `XS_WRITE_*` strings: defined by the 4.17 header, used by no 4.17 server. */
export const XS_WRITE_NONE = "NONE";
export const XS_WRITE_CREATE = "CREATE";
export const XS_WRITE_CREATE_EXCL = "CREATE|EXCL";

/** `XENSTORE_PAYLOAD_MAX`: a request whose `len` exceeds this makes xenstored drop the connection. */
export const XENSTORE_PAYLOAD_MAX = 4096;
/** `XENSTORE_ABS_PATH_MAX` in bytes. */
export const XENSTORE_ABS_PATH_MAX = 3072;
/** `XENSTORE_REL_PATH_MAX` in bytes (also cxenstored's default path-length quota). */
export const XENSTORE_REL_PATH_MAX = 2048;
