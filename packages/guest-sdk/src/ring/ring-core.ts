/**
 * What a front and a back ring have in common: options, the halted state, and
 * copy-then-decode-then-validate of one entry. Internal to the ring module.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import { EntryBuffer, type RingCodec, type RingSpec, ringEntrySize } from "./ring-codec.js";
import { RingProtocolError } from "./ring-error.js";
import { SharedRingArea } from "./shared-ring.js";

/** Options of a `FrontRing` or `BackRing`. */
export interface RingOptions {
  /** A label used in error messages (e.g. `"vbd 51712 ring"`). */
  name?: string;
  /**
   * What a failed decode/validate of a consumed entry does. Both throw a RingProtocolError
   * with reason `"invalid-entry"` after the entry was consumed (its index is passed, so a
   * loop never spins on it):
   * - `"report"` leaves the ring running; the caller may answer the entry (the error carries
   *   its private bytes and, when decodable, its value) or call `halt()`.
   * - `"halt"` halts the ring; every later operation throws the same error.
   *
   * Default: `"report"` on a BackRing (blkback answers a bad request with an error status and
   * carries on), `"halt"` on a FrontRing (XSA-391-hardened frontends stop trusting a backend
   * that sends a malformed response).
   */
  onInvalidEntry?: "report" | "halt";
}

/** Options with defaults applied. */
export interface ResolvedRingOptions {
  readonly name: string | undefined;
  readonly onInvalidEntry: "report" | "halt";
}

/** Applies the defaults of `RingOptions` for one side. */
export function resolveRingOptions(options: RingOptions | undefined, side: "front" | "back"): ResolvedRingOptions {
  return {
    name: options?.name,
    onInvalidEntry: options?.onInvalidEntry ?? (side === "front" ? "halt" : "report"),
  };
}

/** Shared state of one ring end. */
export class RingCore {
  readonly area: SharedRingArea;
  readonly options: ResolvedRingOptions;
  #halted: RingProtocolError | undefined;

  constructor(pages: readonly Page[], spec: RingSpec<unknown, unknown>, options: ResolvedRingOptions) {
    this.area = new SharedRingArea(pages, ringEntrySize(spec));
    this.options = options;
  }

  get halted(): RingProtocolError | undefined {
    return this.#halted;
  }

  /** Throws the halting error if the ring is halted. */
  check(): void {
    if (this.#halted !== undefined) throw this.#halted;
  }

  /** Halts the ring with `error` (the first halt wins) and returns the error that halted it. */
  halt(error: RingProtocolError): RingProtocolError {
    this.#halted ??= error;
    return this.#halted;
  }

  /** Writes `value` into entry `idx` through a zeroed private buffer of `codec.size` bytes. */
  produce<T>(codec: RingCodec<T>, idx: number, value: T): void {
    const buf = new EntryBuffer(new Uint8Array(codec.size));
    codec.encode(value, buf);
    this.area.writeEntry(idx, buf.bytes);
  }

  /**
   * Copies entry `idx` out of the shared ring once, then decodes and validates only the copy.
   * The caller has already advanced its consumer index past `idx`.
   * @throws RingProtocolError ("invalid-entry"), after halting if the options say so.
   */
  consume<T>(codec: RingCodec<T>, idx: number, kind: "request" | "response"): T {
    const bytes = this.area.copyEntry(idx, codec.size);
    // Decode and validate a second private buffer so that neither can alter what the error reports.
    const buf = new EntryBuffer(bytes.slice());
    let value: T;
    try {
      value = codec.decode(buf);
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw this.#invalid({ reason: "invalid-entry", kind, index: idx, detail, bytes }, cause);
    }
    let detail: string | undefined;
    try {
      detail = codec.validate?.(value);
    } catch (cause) {
      detail = cause instanceof Error ? cause.message : String(cause);
    }
    if (detail !== undefined) throw this.#invalid({ reason: "invalid-entry", kind, index: idx, detail, bytes, value });
    return value;
  }

  #invalid(fault: ConstructorParameters<typeof RingProtocolError>[0], cause?: unknown): RingProtocolError {
    const err = new RingProtocolError(fault, this.options.name, cause === undefined ? undefined : { cause });
    return this.options.onInvalidEntry === "halt" ? this.halt(err) : err;
  }
}
