/**
 * The `connectDomain` hook a host gives xenstored so that INTRODUCE serves the domain over its
 * real ring: map grant ref 1 of the domain into dom0 and bind its store port
 * (`XenstoreRingTransport`). As cxenstored, the `mfn` of the INTRODUCE is not used for the
 * mapping; it only has to be there.
 *
 * ```ts
 * const xs = new Xenstored({ hooks: { connectDomain: ringTransportFactory({ guest0, events0 }) } });
 * xs.introduceDomain(domid, { mfn: storeGfn, evtchn: storePort });
 * ```
 */
import type { Guest } from "@pvkit/hypervisor-sim";
import { type EventChannels, GrantStatusError, XenError } from "@pvkit/guest-sdk";
import type { ConnectDomainRequest, DomainTransport } from "./domains.js";
import { XenstoreRingTransport } from "./ring-transport.js";
import { isXsdErrorName } from "@pvkit/hypervisor-sim/abi";
import { highestHoles as sdkHighestHoles } from "@pvkit/guest-sdk/wire";

/** Options of {@link ringTransportFactory}. */
export interface RingTransportFactoryOptions {
  /** Dom0's guest handle (`hv.guest(0)`). */
  readonly guest0: Guest;
  /** Dom0's event channels (`EventChannels.of(guest0)`). */
  readonly events0: EventChannels;
  /**
   * Picks the dom0 GFN (a hole) for a domain's ring mapping. Default: the highest hole below the
   * grant-table window (GNTTAB_GFN_BASE) and above dom0's RAM, chosen at INTRODUCE time.
   */
  readonly mapGfn?: (domid: number) => number;
  /** `server_features` to advertise. Default 0 (cxenstored 4.17 advertises none). */
  readonly serverFeatures?: number;
  /** Outstanding-request quota per unprivileged domain (XSA-326). Default 20 (`-Q outstanding`). */
  readonly outstandingLimit?: number;
  /** Called with each transport created (for hosts and tests that want to inspect it). */
  readonly onTransport?: (transport: XenstoreRingTransport) => void;
}

/**
 * The `n` highest holes of `guest`'s physmap below GNTTAB_GFN_BASE: guest-sdk's `highestHoles`
 * over `guest.memory`, with the domain in the error.
 * @throws RangeError when fewer than `n` holes are left.
 */
export function guestHighestHoles(guest: Guest, n: number): number[] {
  try {
    return sdkHighestHoles(guest.memory, n);
  } catch (err) {
    throw new RangeError(`d${guest.domid}: ${(err as Error).message}`);
  }
}

/** The highest hole of `guest`'s physmap below GNTTAB_GFN_BASE, above its RAM. */
export function highestHole(guest: Guest): number {
  return guestHighestHoles(guest, 1)[0]!;
}

/**
 * A `connectDomain` hook creating a {@link XenstoreRingTransport} per introduced domain. A map
 * or bind failure fails the INTRODUCE: a Xen errno name that is also an xsd error name is
 * passed on (EINVAL, EACCES, ...), grant failures and anything else give EINVAL.
 */
export function ringTransportFactory(
  opts: RingTransportFactoryOptions,
): (req: ConnectDomainRequest) => DomainTransport | string {
  return (req) => {
    try {
      const t = new XenstoreRingTransport({
        guest0: opts.guest0,
        events0: opts.events0,
        domid: req.domid,
        remotePort: req.evtchn,
        connection: req.connection,
        mapGfn: (opts.mapGfn ?? (() => highestHole(opts.guest0)))(req.domid),
        ...(opts.serverFeatures !== undefined ? { serverFeatures: opts.serverFeatures } : {}),
        ...(opts.outstandingLimit !== undefined ? { outstandingLimit: opts.outstandingLimit } : {}),
      });
      opts.onTransport?.(t);
      return t;
    } catch (err) {
      if (err instanceof XenError && isXsdErrorName(err.code)) return err.code;
      if (err instanceof XenError || err instanceof GrantStatusError || err instanceof RangeError)
        return "EINVAL";
      throw err;
    }
  };
}
