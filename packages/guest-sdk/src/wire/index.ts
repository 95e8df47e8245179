/**
 * `@pvkit/guest-sdk/wire`: the wire-level and layout pieces the SDK's classes are built from —
 * a ring entry's private buffer (`EntryBuffer`, `ringEntrySize`: `io/ring.h` slot sizes), the
 * xenstore ring protocol engine under `XenbusClient` (`XsRingConnection`: `io/xs_wire.h`
 * messages over `struct xenstore_domain_interface`), xenstore permission strings, pvclock's
 * scaling (`scaleDelta`: Linux `pvclock_scale_delta`) and the physmap holes where shared_info
 * and grant mappings go.
 *
 * Drivers use the package root (`FrontRing`, `XenbusClient`, `GuestClock`, ...); these are for
 * tests, tools and code that works one layer down.
 *
 * @module @pvkit/guest-sdk/wire
 */
export {
  EntryBuffer,
  ringEntrySize,
} from "../ring/ring-codec.js";
export {
  XsRingConnection,
  type XsRequest,
} from "../xenbus/xs-ring-connection.js";
export { DIRECTORY_PART_MAX_RESTARTS } from "../xenbus/xenstore-session.js";
export {
  parsePermission,
  formatPermission,
} from "../xenbus/permissions.js";
export { scaleDelta } from "../time/guest-clock.js";
export { highestHoles } from "../memory/holes.js";
