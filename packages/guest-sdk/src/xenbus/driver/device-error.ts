/**
 * The error of the driver framework: a `XenError` (callers match on `code`, the errno name) with a
 * `reason`, and the device's node name. What a hook throws is turned into `xenbus_dev_fatal`
 * with the error's errno (EIO for errors without one).
 *
 * - `bad-key`: the other end's key is not what the protocol allows (EINVAL, or ERANGE);
 * - `missing-key`: a key with no default is absent (ENOENT);
 * - `otherend`: the other end's details (`backend`/`backend-id`, `frontend`/`frontend-id`) are
 *   missing or malformed (ENOENT / EINVAL), as `xenbus_read_otherend_details` refuses;
 * - `not-connected`: the device is gone, or was removed while someone waited for it (ENXIO);
 * - `timeout`: the peer did not reach the state waited for in time (ETIME, Xen's errno for it).
 */
import { XEN_ERRNO, type XenErrnoName } from "@pvkit/hypervisor-sim/abi";
import { XenError } from "../../errors.js";

/** Why a framework call failed. */
export type XenbusDeviceFailure =
  | "bad-key"
  | "missing-key"
  | "otherend"
  | "not-connected"
  | "timeout";

/** A framework error about one device; `nodename` says which. */
export class XenbusDeviceError extends XenError {
  override readonly name: string = "XenbusDeviceError";
  readonly reason: XenbusDeviceFailure;
  readonly nodename: string;

  constructor(reason: XenbusDeviceFailure, errno: XenErrnoName, nodename: string, detail: string) {
    super("xenbus", -XEN_ERRNO[errno], `${nodename}: ${detail}`);
    this.reason = reason;
    this.nodename = nodename;
  }
}

/** The positive errno of `err` for `xenbus_dev_fatal`: a XenError's, else EIO. */
export function errnoOf(err: unknown): number {
  if (err instanceof XenError) return err.errno;
  return XEN_ERRNO.EIO;
}
