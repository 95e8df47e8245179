/**
 * @pvkit/split-drivers: Xen PV split drivers for pvkit guests.
 *
 * @module @pvkit/split-drivers
 */
export {
  ConsoleFront,
  DEFAULT_MAX_PENDING_BYTES,
  type ConsoleGuest,
  type ConsoleOptions,
  type ConsoleWriteOptions,
  type ConsoleStats,
} from "./console/console-front.js";
export { consoleFrontend, extraConsole, CONSOLE_DEVICE_TYPE } from "./console/console-driver.js";
export { ConsoleStream, type ConsoleStreamOptions } from "./console/console-stream.js";
export {
  ConsoleError,
  CONSOLE_ERROR_CODES,
  type ConsoleFault,
  type ConsoleFaultReason,
  type ConsoleErrorCode,
} from "./console/console-error.js";
export * from "./blk/index.js";
