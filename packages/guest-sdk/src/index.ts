/**
 * @pvkit/guest-sdk: the guest kernel's Xen layer for pvkit drivers — shared rings
 * (`io/ring.h`), byte rings, event channels, grants, the xenstore client and the xenbus driver
 * framework, as Linux's `drivers/xen` gives them to a PV driver.
 *
 * The root is what a driver uses. One layer down, deliberately apart:
 * `@pvkit/guest-sdk/hypercall` (the typed single-hypercall wrappers) and
 * `@pvkit/guest-sdk/wire` (ring entry buffers, the xenstore ring engine, permission strings,
 * pvclock scaling, physmap holes).
 *
 * @module @pvkit/guest-sdk
 */
export { FrontRing } from "./ring/front-ring.js";
export { BackRing } from "./ring/back-ring.js";
export type { RingOptions } from "./ring/ring-core.js";
export type {
  RingCodec,
  RingSpec,
  EntryReader,
  EntryWriter,
} from "./ring/ring-codec.js";
export { ClosedEntryReaderError } from "./ring/entry-copy.js";
export {
  RingProtocolError,
  RING_ERROR_CODES,
  type RingFault,
  type RingFaultReason,
  type RingErrorCode,
} from "./ring/ring-error.js";
export {
  MAX_RING_PAGE_ORDER,
  ringPageOrder,
} from "./ring/shared-ring.js";
export {
  requests$,
  responses$,
  type RingDrainOptions,
} from "./ring/ring-rx.js";
export {
  ByteRingReader,
  ByteRingWriter,
  type ByteRingLayout,
  consoleInRing,
  consoleOutRing,
  xenstoreRequestRing,
  xenstoreResponseRing,
} from "./ring/byte-ring.js";
export {
  XenError,
  GrantStatusError,
  type XenErrorCode,
  type GrantStatusCode,
} from "./errors.js";
export type {
  EvtchnStatus,
  EvtchnState,
  BindPirqOptions,
} from "./hypercall/evtchn-ops.js";
export {
  EventChannels,
  MAX_UPCALL_ROUNDS,
  type EventChannelsOptions,
  type EventHandlerError,
} from "./events/event-channels.js";
export type { EventAbiName } from "./events/event-abi.js";
export { FIFO_EVENTS_PER_ROUND } from "./events/fifo-abi.js";
export {
  EventChannel,
  type EventChannelKind,
  type ChannelEvent,
  type ChannelHandler,
  type ChannelOptions,
  type WaitOptions,
} from "./events/event-channel.js";
export {
  GrantError,
  GRANT_ERROR_CODES,
  type GrantErrorCode,
} from "./grants/grant-error.js";
export {
  GuestPageAllocator,
  defaultAllocatorRange,
  type AllocatedPage,
  type AllocatorMemory,
  type FreeOutcome,
  type PageAllocatorOptions,
} from "./grants/page-allocator.js";
export {
  GrantTableClient,
  type GrantGuest,
  type GrantTableClientOptions,
  type GrantOptions,
  type GrantCloseReport,
} from "./grants/grant-table-client.js";
export {
  GrantedPage,
  type GrantedPageEnd,
} from "./grants/granted-page.js";
export {
  GrantMapper,
  MappedGrant,
  DEFAULT_MAP_AREA_FIRST,
  DEFAULT_MAP_AREA_END,
  type GrantMapperOptions,
  type MapOptions,
  type MapperGuest,
} from "./grants/grant-mapper.js";
export {
  copyGrantPages,
  GrantCopyBatch,
  type GrantCopyOp,
  type GrantCopyEnd,
  type GrantRefEnd,
  type LocalFrameEnd,
} from "./grants/grant-copy.js";
export {
  XenbusClient,
  XenbusTransaction,
  DEFAULT_TRANSACTION_RETRIES,
  type XenbusClientOptions,
  type XenbusStartInfoOptions,
  type WatchOptions,
  type TransactionOptions,
} from "./xenbus/xenbus-client.js";
export { XenstoreSession } from "./xenbus/xenstore-session.js";
export {
  XenbusError,
  type XenbusFailure,
  type XenbusErrorInit,
} from "./xenbus/xenbus-error.js";
export type {
  XenbusTransport,
  XenbusOps,
  XenbusTransactionOptions,
} from "./xenbus/driver/transport.js";
export {
  XenbusBus,
  DriverRegistration,
  XENBUS_CLOSE_TIMEOUT_NS,
  type XenbusBusOptions,
} from "./xenbus/driver/xenbus-bus.js";
export {
  XenbusDevice,
  XEN_IO_PROTO_ABI_NATIVE,
  type XenbusSide,
  type GrantedRing,
  type MappedRing,
  type MapRingOptions,
  type XenbusKeys,
} from "./xenbus/driver/xenbus-device.js";
export type {
  FrontendDriver,
  BackendDriver,
} from "./xenbus/driver/driver-types.js";
export { DEFAULT_INIT_WAIT_TIMEOUT_NS } from "./xenbus/driver/walks.js";
export {
  driverEnv,
  type DriverEnv,
  type DriverEnvOptions,
} from "./xenbus/driver/driver-env.js";
export {
  GuestTimers,
  type DriverTimers,
  type TimeoutHandle,
} from "./xenbus/driver/timers.js";
export {
  DEFERRED_RETRY_INTERVAL_NS,
  DEFERRED_RETRY_MAX_IDLE,
  retryDeferredGrants,
} from "./xenbus/driver/deferred-retry.js";
export {
  XenbusDeviceError,
  type XenbusDeviceFailure,
} from "./xenbus/driver/device-error.js";
export {
  coalescedWatch,
  watchStats,
  type CoalescedWatch,
  type WatchStats,
} from "./xenbus/driver/coalesced-watch.js";
export type {
  DeviceResource,
  ReleaseReport,
} from "./xenbus/driver/device-resources.js";
export type { XsWatchEvent } from "./xenbus/xs-ring-connection.js";
export type {
  XenstorePermission,
  XenstoreAccess,
} from "./xenbus/permissions.js";
export {
  GuestClock,
  type ClockGuest,
  type SharedInfoFrame,
} from "./time/guest-clock.js";
export {
  driverInspect,
  type DriverInspectListener,
  type InspectedRing,
  type InspectedRingEnd,
} from "./inspect/driver-inspect.js";
