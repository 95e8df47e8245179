/**
 * What a driver author writes: the hooks of a frontend or backend driver for one device type.
 * The framework (`XenbusBus`) calls them as the XenbusState walk of both ends requires; a hook
 * that throws makes the device fatal (`xenbus_dev_fatal` with the error's errno, then Closing).
 */
import type { XenbusDevice } from "./xenbus-device.js";

/** A frontend driver (Linux `struct xenbus_driver` on the frontend bus). */
export interface FrontendDriver<S = unknown> {
  /** The device type it serves: `device/<type>/<id>`. */
  readonly type: string;
  /**
   * The backend is ready for our details (InitWait — or Initialised, or Connected, or still
   * Initialising after `initWaitTimeoutNs`): allocate and grant rings, allocate the event
   * channel, and publish them with `dev.writeKeys` (one transaction). The framework then
   * switches to Initialised. (blkfront's `talk_to_blkback`.)
   */
  initialise(dev: XenbusDevice<S>): Promise<void> | void;
  /**
   * The backend is Connected: read its keys and start. The framework then switches to
   * Connected. (blkfront's `blkfront_connect`.)
   */
  connect(dev: XenbusDevice<S>): Promise<void> | void;
  /**
   * The device is going away (the backend is closing, an unplug, the driver unregistered): stop
   * using it. Runs before the framework releases everything the device holds; need not release
   * anything itself.
   */
  disconnect?(dev: XenbusDevice<S>): Promise<void> | void;
  /**
   * How long to wait, in virtual ns, for a backend still in Initialising to reach InitWait before
   * publishing anyway with default features (`io/blkif.h`: a frontend may skip waiting for
   * InitWait). Default 100 ms.
   */
  readonly initWaitTimeoutNs?: number;
}

/** A backend driver (Linux `struct xenbus_driver` on the backend bus). */
export interface BackendDriver<S = unknown> {
  /** The device type it serves: `backend/<type>/<frontid>/<id>`. */
  readonly type: string;
  /**
   * The device appeared: advertise features (`dev.writeKeys({ "max-ring-page-order": 2 })`).
   * The framework then switches to InitWait. (blkback's `xen_blkbk_probe`.)
   */
  probe?(dev: XenbusDevice<S>): Promise<void> | void;
  /**
   * The frontend is Initialised or Connected: map its rings (`dev.mapRing`), bind its event
   * channel (`dev.bindEvtchn`), write our keys. The framework then switches to Connected.
   * (blkback's `connect_ring` + `connect`.)
   */
  connect(dev: XenbusDevice<S>): Promise<void> | void;
  /** The connection is going away: stop serving. Runs before the framework releases everything. */
  disconnect?(dev: XenbusDevice<S>): Promise<void> | void;
  /**
   * The backend's `hotplug-status` key: `"write"` writes `connected` after `probe` (a userspace
   * backend such as QEMU's xen-bus); `"wait"` connects only once the hotplug script wrote
   * `connected` (netback's `hotplug_status_changed`; `error` is fatal). Default: ignored.
   */
  readonly hotplugStatus?: "write" | "wait";
}
