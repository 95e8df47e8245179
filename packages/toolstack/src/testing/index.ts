/**
 * @pvkit/toolstack/testing: a simulated host per test, with leak checks at teardown.
 *
 * @module @pvkit/toolstack/testing
 */
export {
  withHost,
  createTestHost,
  sanitizerFailure,
  type TestHost,
  type TestHostOptions,
} from "./test-host.js";
export { useHost } from "./use-host.js";
export {
  checkLeaks,
  drive,
  LeakError,
  type Leak,
  type LeakKind,
  type LeakReport,
  type LeakCheckOptions,
} from "./leak-check.js";
export {
  checkGuestLeaks,
  assertNoGuestLeaks,
  GuestLeakError,
  type GuestLeak,
  type GuestLeakKind,
  type GuestLeakOptions,
} from "./guest-leaks.js";
export {
  Sanitizer,
  sanitizerOf,
  SanitizerError,
  FINDING_HINTS,
  formatFinding,
  hostTest,
  hostTestWith,
  expectFinding,
  type SanitizerOptions,
  type Finding,
  type FindingKind,
  type TracePosition,
  type HostFixtures,
} from "./sanitizer/index.js";
export {
  DEFAULT_SEED,
  SEED_ENV,
  parseSeed,
  resolveSeed,
  subSeed,
  rerunCommand,
  withSeedLine,
  type TestLocation,
} from "./seed.js";
export type {
  FaultOptions,
  XenstoreEagainFault,
  GrantMapFailureFault,
  HostFaults,
  InjectedFaults,
} from "./faults.js";
export {
  hostilePeer,
  CORRUPTION_KINDS,
  BLKIF_RING_LAYOUT,
  type HostilePeer,
  type HostilePeerOptions,
  type HostileSchedule,
  type Corruption,
  type CorruptionKind,
  type RingLayout,
} from "./hostile-peer.js";
export { readNode, writeNode } from "./xenstore-nodes.js";
export {
  restartBackendDriver,
  restartDriverDomain,
  scheduleBackendCrash,
  DEFAULT_FRONTEND_LET_GO_NS,
  type DriverRestartOptions,
  type DriverRestart,
  type DriverDomainRestartOptions,
  type DriverDomainRestart,
  type ReattachDevice,
  type CrashPoint,
  type BackendCrashOptions,
  type ScheduledCrash,
} from "./backend-restart.js";
