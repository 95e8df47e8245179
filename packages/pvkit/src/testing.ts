/**
 * pvkit/testing: the testing kit (`@pvkit/toolstack/testing`): a simulated host per test, with leak
 * checks at teardown.
 */
export {
  withHost,
  createTestHost,
  type TestHost,
  type TestHostOptions,
  useHost,
  checkLeaks,
  drive,
  LeakError,
  type Leak,
  type LeakKind,
  type LeakReport,
  type LeakCheckOptions,
  checkGuestLeaks,
  assertNoGuestLeaks,
  GuestLeakError,
  type GuestLeak,
  type GuestLeakKind,
  type GuestLeakOptions,
} from "@pvkit/toolstack/testing";
