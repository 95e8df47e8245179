/**
 * Hot-plug and hot-unplug of one device of a running domain, as `xl <kind>-attach` /
 * `xl <kind>-detach` do (libxl 4.17 `libxl__device_add` / `libxl__initiate_device_generic_remove`):
 *
 * - attach: the device's frontend, backend and `/libxl` directories in one transaction, with
 *   libxl's keys and permissions (device-add.ts); the backend driver probes it when it appears;
 * - detach: backend `online` = 0 and `state` = Closing (unless Closed) in one transaction, a
 *   wait in virtual time for the backend to reach Closed (default 10 s), then the directories
 *   are removed (device-remove.ts). The result says whether the backend closed or timed out.
 *
 * Both run on a connection of their own from `host.openXenstore()`, closed when done.
 */
import type { Host } from "./host.js";
import { addDevice, type DevicePaths } from "./device-add.js";
import { deviceEntries, type DeviceSpec } from "./device-spec.js";
import {
  LIBXL_DESTROY_TIMEOUT_NS,
  type DeviceRemoval,
  recordedDevices,
  removeOne,
} from "./device-remove.js";
import { HostError } from "./errors.js";
import { XsSession } from "./xs-session.js";

/** Options of {@link detachDevice}. */
export interface DetachOptions {
  /** How long to wait for the backend to reach Closed, virtual ns. Default 10 s (libxl). */
  readonly timeoutNs?: number;
}

function session<T>(host: Host, fn: (xs: XsSession) => T): T {
  const client = host.openXenstore();
  const xs = new XsSession(client.conn);
  let async = false;
  try {
    const r = fn(xs);
    if (r instanceof Promise) {
      async = true;
      return r.finally(() => client.conn.close()) as T;
    }
    return r;
  } finally {
    if (!async) client.conn.close();
  }
}

/**
 * Adds `spec` to the running domain `domid` (`xl <kind>-attach`).
 * @throws HostError ERR_NO_DOMAIN for a domain the host does not run; ERR_BAD_OPTION for a bad spec.
 */
export function attachDevice(host: Host, domid: number, spec: DeviceSpec): DevicePaths {
  if (host.domain(domid) === undefined)
    throw new HostError("ERR_NO_DOMAIN", `no running domain ${domid}`);
  const entries = deviceEntries(domid, spec);
  return session(host, (xs) => addDevice(xs, entries));
}

/**
 * Removes device `<kind>/<devid>` of domain `domid` (`xl <kind>-detach`) and reports how the
 * backend went away (`closed`, `timeout`, `no-backend`).
 * @throws HostError ERR_NO_DOMAIN for an unknown domain or device.
 */
export function detachDevice(
  host: Host,
  domid: number,
  kind: string,
  devid: number,
  opts: DetachOptions = {},
): Promise<DeviceRemoval> {
  if (host.domain(domid) === undefined)
    return Promise.reject(new HostError("ERR_NO_DOMAIN", `no running domain ${domid}`));
  return session(host, (xs) => {
    const dev = recordedDevices(xs, domid).find((d) => d.kind === kind && d.devid === devid);
    if (dev === undefined)
      return Promise.reject(
        new HostError("ERR_NO_DOMAIN", `d${domid} has no device ${kind}/${devid}`),
      );
    return removeOne(host.hv, xs, dev, opts.timeoutNs ?? LIBXL_DESTROY_TIMEOUT_NS);
  });
}
