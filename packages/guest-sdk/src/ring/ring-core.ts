/**
 * What a front and a back ring have in common: options, the halted state, and
 * copy-then-decode-then-validate of one entry. Internal to the ring module.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import { EntryBuffer, type RingCodec, type RingSpec, ringEntrySize } from "./ring-codec.js";
import { EntryCopies, type PrivateEntry } from "./entry-copies.js";
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

/** The message of a thrown value. */
function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Zeroes `bytes` (viewed by `dv`) eight bytes at a time. For entry-sized buffers this is about
 * twice as fast as `bytes.fill(0)`, whose fixed call cost dominates at 8–112 bytes (node 20).
 */
function zero(bytes: Uint8Array, dv: DataView): void {
  const n = bytes.length;
  let i = 0;
  for (; i + 8 <= n; i += 8) dv.setFloat64(i, 0); // +0.0 is eight zero bytes
  for (; i < n; i++) bytes[i] = 0;
}

/** Shared state of one ring end. */
export class RingCore {
  readonly area: SharedRingArea;
  readonly options: ResolvedRingOptions;
  #halted: RingProtocolError | undefined;
  /** The private buffer `produce` encodes into, reused for every entry (see `produce`). */
  #writer: EntryBuffer | undefined;
  /** A DataView over `#writer`'s bytes, to zero them (see `zero`). */
  #writerDv: DataView | undefined;
  /** The private copies `consume` decodes (see `EntryCopies`). */
  #copies: EntryCopies | undefined;

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

  /**
   * Writes `value` into entry `idx` through a zeroed private buffer of `codec.size` bytes. The
   * buffer is reused from one entry to the next (one end always produces the same codec): it is
   * private, zeroed before each encode, and reaches the shared page only after encode succeeded.
   */
  produce<T>(codec: RingCodec<T>, idx: number, value: T): void {
    let w = this.#writer;
    if (w === undefined || w.size !== codec.size) {
      const bytes = new Uint8Array(codec.size);
      this.#writer = w = new EntryBuffer(bytes);
      this.#writerDv = new DataView(bytes.buffer);
    } else {
      zero(w.bytes, this.#writerDv!);
    }
    codec.encode(value, w);
    this.area.writeEntry(idx, w.bytes);
  }

  /**
   * Copies entry `idx` out of the shared ring once, then decodes and validates only the copy.
   * The copy is never reused, so the returned value may keep reading its reader.
   * The caller has already advanced its consumer index past `idx`.
   * @throws RingProtocolError ("invalid-entry"), after halting if the options say so.
   */
  consume<T>(codec: RingCodec<T>, idx: number, kind: "request" | "response"): T {
    let copies = this.#copies;
    if (copies === undefined || copies.size !== codec.size) this.#copies = copies = new EntryCopies(codec.size);
    // The codec sees a read-only view, so the private copy stays exactly what was read; an
    // error report takes a snapshot of it.
    const entry = copies.copy(this.area, idx);
    // Failures are built out of line (#undecodable, #invalidValue) to keep this hot function small enough for V8
    // to inline it into the driver's loop.
    let value: T;
    try {
      value = codec.decode(entry);
    } catch (cause) {
      throw this.#undecodable(kind, idx, entry, cause);
    }
    let detail: string | undefined;
    try {
      detail = codec.validate?.(value);
    } catch (cause) {
      detail = describe(cause);
    }
    if (detail !== undefined) throw this.#invalidValue(kind, idx, entry, detail, value);
    return value;
  }

  /** The "invalid-entry" error of entry `idx`, which failed to decode. */
  #undecodable(kind: "request" | "response", idx: number, entry: PrivateEntry, cause: unknown): RingProtocolError {
    const bytes = entry.snapshot();
    return this.#invalid({ reason: "invalid-entry", kind, index: idx, detail: describe(cause), bytes }, cause);
  }

  /** The "invalid-entry" error of entry `idx`, which decoded to `value` but failed validation. */
  #invalidValue(kind: "request" | "response", idx: number, entry: PrivateEntry, detail: string, value: unknown): RingProtocolError {
    return this.#invalid({ reason: "invalid-entry", kind, index: idx, detail, bytes: entry.snapshot(), value });
  }

  #invalid(fault: ConstructorParameters<typeof RingProtocolError>[0], cause?: unknown): RingProtocolError {
    const err = new RingProtocolError(fault, this.options.name, cause === undefined ? undefined : { cause });
    return this.options.onInvalidEntry === "halt" ? this.halt(err) : err;
  }
}
