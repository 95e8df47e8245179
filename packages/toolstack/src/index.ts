/**
 * @pvkit/toolstack: dom0 userspace for a simulated Xen 4.17 host.
 *
 * @module @pvkit/toolstack
 */
export { Xenstored, type XenstoredEvents, type NodeView } from "./xenstored/xenstored.js";
export {
  Connection,
  decodeWatchEvent,
  type ConnectionKind,
  type ConnectionCloseReason,
  type ConnectionEvents,
  type Watch,
} from "./xenstored/connection.js";
export { XsLocalClient, type WatchEvent } from "./xenstored/local-client.js";
export {
  listenXenstored,
  XENSTORED_DAEMON_NODE_FLAGS,
  type XenstoredSocketServer,
} from "./xenstored/socket-server.js";
export { XenstoreError } from "./xenstored/errors.js";
export {
  DEFAULT_QUOTAS,
  type XenstoredOptions,
  type XenstoredQuotas,
} from "./xenstored/options.js";
export type {
  XenstoredDomainHooks,
  DomainTransport,
  ConnectDomainRequest,
} from "./xenstored/domains.js";
export { XS_PERM, formatPerm, parsePermStrings, type XsPerm } from "./xenstored/perms.js";
export { isValidNodename, canonicalize, domainPath } from "./xenstored/path.js";
export {
  XenstoreRingTransport,
  DEFAULT_OUTSTANDING_LIMIT,
  type RingTransportOptions,
  type RingTransportState,
} from "./xenstored/ring-transport.js";
export {
  ringTransportFactory,
  highestHole,
  guestHighestHoles,
  type RingTransportFactoryOptions,
} from "./xenstored/ring-factory.js";
export { Host, createHost, type HostEvents, type Dom0 } from "./host/host.js";
export {
  DEFAULT_WALLCLOCK_SEC,
  type HostOptions,
  type CreateDomainOptions,
} from "./host/host-options.js";
export type {
  DomainHandle,
  DestroyOptions,
  DestroyReport,
  DomainCrash,
} from "./host/domain-handle.js";
export type { GuestContext, GuestMain } from "./host/guest-context.js";
export { HostError, type HostErrorCode } from "./host/errors.js";
export { bootLayout, MIN_GUEST_PAGES, type BootLayout } from "./host/boot-layout.js";
export {
  vbdDevid,
  LIBXL_XENCONSOLE_LIMIT,
  LIBXL_XENCONSOLE_PROTOCOL,
  type DeviceSpec,
  type VbdSpec,
  type ConsoleSpec,
  type GenericDeviceSpec,
} from "./host/device-spec.js";
export { devicePaths, type DevicePaths } from "./host/device-add.js";
export { LIBXL_DESTROY_TIMEOUT_NS, type DeviceRemoval } from "./host/device-remove.js";
export { mapForeignPages, ForeignMapping } from "./host/foreign-memory.js";
export {
  Xenconsoled,
  type XenconsoledOptions,
  type XenconsoledDeps,
} from "./xenconsoled/xenconsoled.js";
export {
  XenConsole,
  RATE_LIMIT_ALLOWANCE,
  RATE_LIMIT_PERIOD_NS,
  TTY_READ_MAX,
  type ConsoleCounters,
  type ConsoleWhere,
} from "./xenconsoled/xen-console.js";
export { ExtraConsoles } from "./xenconsoled/extra-consoles.js";
export { ConsoleBuffer, type OverflowPolicy } from "./xenconsoled/console-buffer.js";
export { PtyTerminal, openPty } from "./xenconsoled/pty.js";
export type { ConsoleTerminal, TerminalFactory } from "./xenconsoled/terminal.js";
export { LocalXenbusTransport, type XenstoreOpener } from "./xenbus/local-transport.js";
export { attachDevice, detachDevice, type DetachOptions } from "./host/device-hotplug.js";
export {
  TraceRecorder,
  recordTrace,
  DEFAULT_MAX_TRACE_EVENTS,
  type TraceRecorderOptions,
  type RecordedTrace,
  type TracedDomain,
} from "./trace/recorder.js";
export {
  REQUEST_PHASES,
  TRACE_RECORD_KINDS,
  type RequestPhase,
  type TraceRecord,
  type TraceRecordKind,
  type HypercallRecord,
  type RaiseRecord,
  type UpcallRecord,
  type TimerRecord,
  type DomainRecordTrace,
  type XenstoreRecord,
  type SpanRecord,
  type PhaseRecord,
} from "./trace/records.js";
export {
  exportChromeTrace,
  chromeTraceJson,
  domainPid,
  vcpuTid,
  XENSTORED_TID,
  PVKIT_TRACE_FORMAT,
  type ChromeExportOptions,
  type TraceTimeline,
} from "./trace/chrome-export.js";
export {
  stringifyChromeTrace,
  parseChromeTrace,
  loadChromeTrace,
  TraceFormatError,
  type ChromeTrace,
  type ChromeTraceEvent,
  type ChromePhase,
} from "./trace/chrome-format.js";
export { summarizeTrace, type TraceSummaryOptions } from "./trace/summary.js";
export { renderTraceSvg, type TraceSvgOptions } from "./trace/svg-render.js";
export {
  linkNotifications,
  grantCounts,
  type NotifyLink,
  type GrantCount,
} from "./trace/notify-links.js";
