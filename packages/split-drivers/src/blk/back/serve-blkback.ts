/**
 * Runs blkback in dom0 of a simulated host: a framework bus over a dom0 xenstore connection
 * with the blkback driver registered, so every vbd whose backend is dom0 is served.
 *
 * ```ts
 * const xs = LocalXenbusTransport.open(host);                         // from @pvkit/toolstack
 * const served = serveBlkback(host, { xs, storage: (dev) => new MemoryStorage({ bytes: 1 << 20 }) });
 * // ... createDomain({ devices: [{ kind: "vbd", vdev: "xvda" }] }) ...
 * await served.close();
 * xs.close();
 * ```
 *
 * Without `storage`, each device's storage comes from its `type` / `params` / `mode` keys
 * (storage-spec.ts: `params: "memory:1048576"`, or `type: "file", params: "/path/disk.img"`),
 * with file I/O holding the host's clock. For a driver domain, register `blkbackDriver()` on
 * that domain's own `XenbusBus` instead.
 */
import type { Guest } from "@pvkit/hypervisor-sim";
import {
  type DriverRegistration,
  type EventChannels,
  XenbusBus,
  type XenbusDevice,
  type XenbusTransport,
  driverEnv,
} from "@pvkit/guest-sdk";
import type { ClockHolder } from "../storage/storage.js";
import {
  type BlkbackDevice,
  type BlkbackDriver,
  type BlkbackOptions,
  blkbackDriver,
} from "./blkback-driver.js";

/** What serveBlkback needs of a host (toolstack's `Host` has it). */
export interface BlkbackHost {
  readonly dom0: { readonly guest: Guest; readonly events: EventChannels };
  readonly hv: { readonly scheduler: { hold(reason: string): { release(): void } } };
}

/** Options of {@link serveBlkback}. */
export interface ServeBlkbackOptions extends BlkbackOptions {
  /** dom0's xenstore connection (`LocalXenbusTransport.open(host)`); closed by the caller. */
  readonly xs: XenbusTransport;
}

/** blkback running in dom0. */
export interface ServedBlkback {
  readonly bus: XenbusBus;
  readonly driver: BlkbackDriver;
  readonly registration: DriverRegistration<BlkbackDevice>;
  /** The backend device of vbd `devid` of domain `domid`, if probed. */
  device(domid: number, devid: number): XenbusDevice<BlkbackDevice> | undefined;
  /** Publishes a changed storage size to the frontend (`xen_vbd_resize`). */
  resize(domid: number, devid: number): Promise<void>;
  /** Unregisters (backends close), closes the bus and the storages opened from keys. */
  close(): Promise<void>;
}

/** See the file header. */
export function serveBlkback(host: BlkbackHost, opts: ServeBlkbackOptions): ServedBlkback {
  const holdClock: ClockHolder = opts.holdClock ?? ((reason) => host.hv.scheduler.hold(reason));
  const driver = blkbackDriver({ ...opts, holdClock });
  const bus = new XenbusBus(
    driverEnv({ guest: host.dom0.guest, events: host.dom0.events, xs: opts.xs }),
  );
  const registration = bus.registerBackend(driver);
  return {
    bus,
    driver,
    registration,
    device: (domid, devid) => registration.device(devid, domid),
    async resize(domid, devid) {
      const dev = registration.device(devid, domid);
      if (dev !== undefined) await driver.resize(dev);
    },
    async close() {
      await bus.close();
      await driver.closeStorages();
    },
  };
}
