/**
 * `xen/include/public/io/xenbus.h` (Xen 4.17): the states a split device's two ends publish in
 * their `state` nodes, as decimal strings. Each end writes only its own `state` and watches the
 * other's.
 *
 * ```
 * enum xenbus_state {
 *     XenbusStateUnknown       = 0,
 *     XenbusStateInitialising  = 1,
 *     XenbusStateInitWait      = 2,  // early init done, waiting for the peer's details
 *     XenbusStateInitialised   = 3,  // details published, waiting for the peer's connect
 *     XenbusStateConnected     = 4,
 *     XenbusStateClosing       = 5,  // the device is being torn down
 *     XenbusStateClosed        = 6,
 *     XenbusStateReconfiguring = 7,  // pciback only
 *     XenbusStateReconfigured  = 8,
 * };
 * ```
 */

/** `enum xenbus_state`, with Xen's names. */
export const XenbusState = {
  XenbusStateUnknown: 0,
  XenbusStateInitialising: 1,
  XenbusStateInitWait: 2,
  XenbusStateInitialised: 3,
  XenbusStateConnected: 4,
  XenbusStateClosing: 5,
  XenbusStateClosed: 6,
  XenbusStateReconfiguring: 7,
  XenbusStateReconfigured: 8,
} as const;

/** One of the values of `enum xenbus_state`. */
export type XenbusStateValue = (typeof XenbusState)[keyof typeof XenbusState];

const NAMES = [
  "Unknown",
  "Initialising",
  "InitWait",
  "Initialised",
  "Connected",
  "Closing",
  "Closed",
  "Reconfiguring",
  "Reconfigured",
] as const;

/** Linux's `xenbus_strstate`: "Connected" for 4; `"<n>"` for a value outside the enum. */
export function xenbusStateName(state: number): string {
  return NAMES[state] ?? `state ${state}`;
}

/**
 * Parses a `state` node as Linux's `xenbus_read_driver_state` does (`xenbus_scanf("%d")`): a
 * value that does not start with a decimal number reads as Unknown (0). A number outside the enum
 * is returned as it is (callers treat it as a state they do not handle).
 */
export function parseXenbusState(value: string | undefined): number {
  if (value === undefined) return XenbusState.XenbusStateUnknown;
  const m = /^\s*([+-]?\d+)/.exec(value);
  return m ? Number.parseInt(m[1]!, 10) : XenbusState.XenbusStateUnknown;
}
