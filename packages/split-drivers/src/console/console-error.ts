/**
 * The one error type of the PV console frontend. Callers match on `code` or on `fault.reason`.
 */
import { PvkitError, type PvkitErrorCode } from "@pvkit/hypervisor-sim";

/** What went wrong. Index values are u32. */
export type ConsoleFault =
  | {
      /**
       * The backend left `prod - cons` of a ring above the ring's size (`io/console.h` asks both
       * ends to treat that as corrupt; hvc_xen's "Illegal ring page indices"). The console halts.
       */
      readonly reason: "ring-index";
      /** `in` (backend to guest) or `out` (guest to backend). */
      readonly ring: "in" | "out";
      readonly prod: number;
      readonly cons: number;
      /** The ring's size in bytes (1024 or 2048). */
      readonly size: number;
    }
  | {
      /** `write()` would queue more than `maxPendingBytes` behind a full ring; nothing of it was queued. */
      readonly reason: "output-full";
      /** Bytes already waiting for ring space. */
      readonly pending: number;
      /** Bytes the rejected write carried. */
      readonly length: number;
      readonly maxPendingBytes: number;
    }
  | {
      /** The console was closed or destroyed (by its owner, or with the domain). */
      readonly reason: "closed";
    };

/** The `reason` of a ConsoleFault. */
export type ConsoleFaultReason = ConsoleFault["reason"];

/** Stable error codes, one per reason. */
export const CONSOLE_ERROR_CODES = {
  "ring-index": "ERR_CONSOLE_RING_INDEX",
  "output-full": "ERR_CONSOLE_OUTPUT_FULL",
  closed: "ERR_CLOSED",
} as const satisfies Record<ConsoleFaultReason, PvkitErrorCode>;

/** `code` of a ConsoleError. */
export type ConsoleErrorCode = (typeof CONSOLE_ERROR_CODES)[ConsoleFaultReason];

const hex = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;

function describe(f: ConsoleFault): string {
  switch (f.reason) {
    case "ring-index":
      return `console halted: corrupt ${f.ring} ring indices from the backend: ${f.ring}_prod=${hex(f.prod)}, ${f.ring}_cons=${hex(f.cons)}, prod - cons > ${f.size}`;
    case "output-full":
      return `console output full: ${f.pending} bytes already wait for ring space, ${f.length} more would exceed maxPendingBytes=${f.maxPendingBytes} (is the console backend running?)`;
    case "closed":
      return "console closed";
  }
}

/**
 * A PV console failure, a `PvkitError` (docs/errors.md); `fault` says which, with the values
 * involved. A closed console's code is pvkit's one closed-handle code, ERR_CLOSED.
 */
export class ConsoleError extends PvkitError {
  override readonly name: string = "ConsoleError";
  declare readonly code: ConsoleErrorCode;
  readonly fault: ConsoleFault;

  constructor(fault: ConsoleFault, options?: ErrorOptions) {
    super(CONSOLE_ERROR_CODES[fault.reason], describe(fault), options);
    this.fault = fault;
  }

  /** Shorthand for `fault.reason`. */
  get reason(): ConsoleFaultReason {
    return this.fault.reason;
  }
}
