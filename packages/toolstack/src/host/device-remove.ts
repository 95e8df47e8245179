/**
 * Device teardown as libxl 4.17 does it for a domain being destroyed (`libxl__devices_destroy`,
 * `libxl__initiate_device_generic_remove`, `libxl__device_destroy` in libxl_device.c):
 *
 * 1. the devices are found under `/libxl/<id>/device/<kind>/<devid>/backend`;
 * 2. consoles are removed at once (xenconsoled needs no handshake);
 * 3. for every other device, in one transaction: backend `online` = "0" and, unless the
 *    backend is already Closed, backend `state` = "5" (Closing). A device whose backend
 *    directory is gone is only cleaned up;
 * 4. wait — in virtual time, watching the backend's `state` — for Closed (6), at most
 *    `timeoutNs` (libxl's LIBXL_DESTROY_TIMEOUT is 10 s); on timeout carry on (xl destroy is a
 *    forced removal) and report it;
 * 5. remove the frontend, the `/libxl` copy and the backend directory, each with empty parents
 *    (`libxl__xs_path_cleanup`), in one transaction.
 */
import type { Hypervisor } from "@pvkit/hypervisor-sim";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import { devicePaths, type DevicePaths } from "./device-add.js";
import { libxlPath } from "./libxl-tree.js";
import type { XsSession } from "./xs-session.js";

/** `LIBXL_DESTROY_TIMEOUT`, in virtual nanoseconds. */
export const LIBXL_DESTROY_TIMEOUT_NS = 10_000_000_000;

const CLOSING = XenbusState.XenbusStateClosing;
const CLOSED = XenbusState.XenbusStateClosed;

/** How one device went away. */
export interface DeviceRemoval {
  readonly kind: string;
  readonly devid: number;
  readonly paths: DevicePaths;
  /**
   * - `closed`: the backend reached Closed (or already was);
   * - `timeout`: it did not within the timeout; the directories were removed anyway;
   * - `no-backend`: its backend directory was already gone;
   * - `console`: removed without a handshake.
   */
  readonly outcome: "closed" | "timeout" | "no-backend" | "console";
  /** The backend state last seen (undefined when there was none). */
  readonly lastBackendState: string | undefined;
  /** Virtual ns spent waiting. */
  readonly waitedNs: number;
}

/** A device as recorded under /libxl/<id>/device. */
export interface RecordedDevice {
  kind: string;
  devid: number;
  paths: DevicePaths;
}

/** Backend paths look like /local/domain/<B>/backend/<bkind>/<F>/<devid> (libxl__parse_backend_path). */
const BACKEND_RE = /^\/local\/domain\/(\d+)\/backend\/([^/]+)\/(\d+)\/(\d+)$/;

/** The devices libxl would find for `domid`. */
export function recordedDevices(xs: XsSession, domid: number): RecordedDevice[] {
  const out: RecordedDevice[] = [];
  const base = `${libxlPath(domid)}/device`;
  for (const kind of xs.directory(base)) {
    for (const devid of xs.directory(`${base}/${kind}`)) {
      const backend = xs.read(`${base}/${kind}/${devid}/backend`);
      const m = backend === undefined ? null : BACKEND_RE.exec(backend);
      if (!m) continue;
      const paths = devicePaths({
        kind,
        backendKind: m[2]!,
        devid: Number(devid),
        domid,
        backendDomid: Number(m[1]),
      });
      out.push({ kind, devid: Number(devid), paths });
    }
  }
  return out;
}

/** Removes the device's directories (`libxl__device_destroy` from the toolstack domain). */
function destroyDeviceNodes(xs: XsSession, paths: DevicePaths): void {
  xs.transaction((t) => {
    xs.pathCleanup(paths.frontend, t);
    xs.pathCleanup(paths.libxl, t);
    xs.pathCleanup(paths.backend, t);
  });
}

/** Step 3: online = 0, Closing unless Closed. Returns the state read, or undefined (no backend). */
function initiateRemove(xs: XsSession, paths: DevicePaths): string | undefined {
  return xs.transaction((t) => {
    const state = xs.read(`${paths.backend}/state`, t);
    if (state === undefined) return undefined;
    xs.write(`${paths.backend}/online`, "0", t);
    if (Number.parseInt(state, 10) !== CLOSED)
      xs.write(`${paths.backend}/state`, String(CLOSING), t);
    return state;
  });
}

/** Steps 3–5 for one non-console device (also `xl <kind>-detach`, device-hotplug.ts). */
export async function removeOne(
  hv: Hypervisor,
  xs: XsSession,
  dev: RecordedDevice,
  timeoutNs: number,
): Promise<DeviceRemoval> {
  const start = hv.now;
  const base = { kind: dev.kind, devid: dev.devid, paths: dev.paths };
  const initial = initiateRemove(xs, dev.paths);
  if (initial === undefined) {
    destroyDeviceNodes(xs, dev.paths);
    return { ...base, outcome: "no-backend", lastBackendState: undefined, waitedNs: 0 };
  }
  const statePath = `${dev.paths.backend}/state`;
  let last: string | undefined = initial;
  const outcome = await new Promise<"closed" | "timeout">((resolve) => {
    let settled = false;
    let unwatch: (() => void) | undefined;
    const finish = (o: "closed" | "timeout"): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      unwatch?.();
      resolve(o);
    };
    const timer = hv.scheduler.at(start + timeoutNs, () => finish("timeout"));
    // libxl__ev_devstate_wait: the initial watch event reads the state at once.
    unwatch = xs.watch(statePath, () => {
      if (settled) return;
      last = xs.read(statePath);
      if (last !== undefined && Number.parseInt(last, 10) === CLOSED) finish("closed");
    });
    if (settled) unwatch();
  });
  destroyDeviceNodes(xs, dev.paths);
  return { ...base, outcome, lastBackendState: last, waitedNs: hv.now - start };
}

/**
 * Removes every device of `domid` (consoles at once, the others in parallel as libxl's
 * multidev does) and reports each.
 */
export async function removeDevices(
  hv: Hypervisor,
  xs: XsSession,
  domid: number,
  timeoutNs: number,
): Promise<DeviceRemoval[]> {
  const devices = recordedDevices(xs, domid);
  const done: DeviceRemoval[] = [];
  const pending: Promise<DeviceRemoval>[] = [];
  for (const dev of devices) {
    if (dev.kind === "console") {
      destroyDeviceNodes(xs, dev.paths);
      done.push({
        kind: dev.kind,
        devid: dev.devid,
        paths: dev.paths,
        outcome: "console",
        lastBackendState: undefined,
        waitedNs: 0,
      });
    } else {
      pending.push(removeOne(hv, xs, dev, timeoutNs));
    }
  }
  return [...done, ...(await Promise.all(pending))];
}

/**
 * Forced removal with no handshake (the host is shutting down): every device's directories go
 * at once. Returns the devices removed.
 */
export function removeDevicesNow(xs: XsSession, domid: number): DevicePaths[] {
  const devices = recordedDevices(xs, domid);
  for (const dev of devices) destroyDeviceNodes(xs, dev.paths);
  return devices.map((d) => d.paths);
}
