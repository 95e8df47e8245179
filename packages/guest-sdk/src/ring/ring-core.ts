/**
 * What a front and a back ring have in common: options, the halted state, and
 * copy-then-decode-then-validate of one entry. Internal to the ring module.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import {
  EntryBuffer,
  type EntryReader,
  type EntryWriter,
  type RingCodec,
  type RingSpec,
  ringEntrySize,
} from "./ring-codec.js";
import { EntryCopy, type PrivateEntry } from "./entry-copy.js";
import { RingProtocolError } from "./ring-error.js";
import { REQ_EVENT, REQ_PROD, RSP_EVENT, RSP_PROD, SharedRingArea } from "./shared-ring.js";
import { SlotWriter } from "./slot-writer.js";

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
export function resolveRingOptions(
  options: RingOptions | undefined,
  side: "front" | "back",
): ResolvedRingOptions {
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

function notOpened(idx: number): never {
  throw new RangeError(
    `ring entry ${idx} was not opened for writing (nextRequest / nextResponse first)`,
  );
}

/**
 * Shared state of one ring end, which produces `Out` entries and consumes `In` entries: a
 * frontend is a `RingCore<Req, Rsp>`, a backend a `RingCore<Rsp, Req>`.
 */
export class RingCore<Out, In> {
  readonly area: SharedRingArea;
  readonly options: ResolvedRingOptions;
  #halted: RingProtocolError | undefined;
  readonly #out: RingCodec<Out>;
  readonly #in: RingCodec<In>;
  /** "request" or "response": what this end consumes, for error reports. */
  readonly #inKind: "request" | "response";
  /** Encodes in place into an unpublished slot that lies inside one page (see `produce`). */
  readonly #slot: SlotWriter;
  /** The private buffer `produce` encodes a page-straddling entry into (see `produce`). */
  readonly #writer: EntryBuffer;
  /** A DataView over `#writer`'s bytes, to zero them (see `zero`). */
  readonly #writerDv: DataView;
  /** The private copy `consume` decodes (see `EntryCopy`). */
  readonly #copy: EntryCopy;
  /** Header offsets of this end's producer index and the peer's event index for it (req_* or rsp_*). */
  readonly #prodField: number;
  readonly #eventField: number;
  /** The index `openSlot` opened and `closeSlot` has not closed, or -1. */
  #opened = -1;
  /** Whether the open slot is written into the private buffer (a straddling entry). */
  #straddling = false;

  constructor(
    pages: readonly Page[],
    spec: RingSpec<unknown, unknown>,
    side: "front" | "back",
    options: ResolvedRingOptions,
  ) {
    this.area = new SharedRingArea(pages, ringEntrySize(spec));
    this.options = options;
    const [out, inp] =
      side === "front" ? [spec.request, spec.response] : [spec.response, spec.request];
    this.#out = out as RingCodec<Out>;
    this.#in = inp as RingCodec<In>;
    this.#inKind = side === "front" ? "response" : "request";
    this.#prodField = side === "front" ? REQ_PROD : RSP_PROD;
    this.#eventField = side === "front" ? REQ_EVENT : RSP_EVENT;
    const bytes = new Uint8Array(out.size);
    this.#writer = new EntryBuffer(bytes);
    this.#writerDv = new DataView(bytes.buffer);
    this.#copy = new EntryCopy(inp.size, this.area.wordAligned);
    this.#slot = new SlotWriter(pages[0] as Page, out.size);
  }

  /** `RING_PUSH_{REQUESTS,RESPONSES}`: publishes this end's producer index. @throws if halted. */
  publish(prodPvt: number): void {
    this.check();
    this.area.set(this.#prodField, prodPvt);
  }

  /**
   * `RING_PUSH_*_AND_CHECK_NOTIFY`: publishes `prodPvt` and returns whether the peer asked to be
   * notified within the window just published: `(u32)(new - event) < (u32)(new - old)`.
   * @throws RingProtocolError if halted.
   */
  publishAndCheck(prodPvt: number): boolean {
    this.check();
    const area = this.area;
    const oldProd = area.get(this.#prodField);
    area.set(this.#prodField, prodPvt); // (write barrier before, full barrier after, in C)
    const event = area.get(this.#eventField);
    return (prodPvt - event) >>> 0 < (prodPvt - oldProd) >>> 0;
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
   * Writes `value` into entry `idx`: the codec's `size` bytes, zeroed then encoded. Entry `idx`
   * is not yet published (the caller moves its producer index only after this returns), so it
   * is the producer's own and the codec encodes straight into it (see `SlotWriter`); a throwing
   * encode leaves a partly written slot nobody reads and that the next produce zeroes again.
   * An entry straddling two pages is encoded into a zeroed private buffer (reused from one
   * entry to the next) and copied to the page after encode succeeded.
   */
  produce(idx: number, value: Out): void {
    this.#opened = -1;
    const at = this.area.entryOffset(idx);
    const page = this.area.pageHolding(at, this.#slot.size);
    if (page !== undefined) {
      this.#slot.open(page, at & 4095);
      this.#out.encode(value, this.#slot);
      return;
    }
    const w = this.#writer;
    zero(w.bytes, this.#writerDv);
    this.#out.encode(value, w);
    this.area.writeEntry(idx, w.bytes);
  }

  /**
   * `RING_GET_REQUEST` / `RING_GET_RESPONSE` for a producer that writes the fields itself, as
   * the C drivers do: a writer over the `size` bytes of entry `idx`, zeroed, to be closed with
   * `closeSlot(idx)` before the producer index moves past it. The entry is not yet published,
   * so the writer is the slot itself (see `SlotWriter`); an entry straddling two pages is
   * written into the zeroed private buffer and copied to the pages by `closeSlot`. The writer
   * is reused: it is valid until `closeSlot`, and a slot opened and never closed is left
   * unpublished (the next open zeroes it again).
   */
  openSlot(idx: number): EntryWriter {
    const at = this.area.entryOffset(idx);
    const page = this.area.pageHolding(at, this.#slot.size);
    this.#opened = idx;
    if (page !== undefined) {
      this.#slot.open(page, at & 4095);
      this.#straddling = false;
      return this.#slot;
    }
    zero(this.#writer.bytes, this.#writerDv);
    this.#straddling = true;
    return this.#writer;
  }

  /**
   * Ends the write of entry `idx` begun by `openSlot`; returns a reader over what was written
   * (the slot, or the private buffer of a straddling entry), valid until the next open.
   * @throws RangeError if entry `idx` is not the one open.
   */
  closeSlot(idx: number): EntryReader {
    if (this.#opened !== idx) notOpened(idx);
    this.#opened = -1;
    if (this.#straddling) {
      this.area.writeEntry(idx, this.#writer.bytes);
      return this.#writer;
    }
    return this.#slot;
  }

  /**
   * `RING_COPY_REQUEST` / `RING_COPY_RESPONSE` without the codec: copies entry `idx` once into
   * this end's private buffer and returns the read-only reader over that copy. The caller reads
   * the fields from it (never from the shared slot); it is valid until the next copy or
   * consume of this end, which overwrites the same buffer. The caller has already advanced its
   * consumer index past `idx`.
   */
  copyIn(idx: number): EntryReader {
    return this.#copy.copy(this.area, idx);
  }

  /** The value the codec decodes from `entry` (for inspection of entries written or copied raw). */
  decodeOut(entry: EntryReader): Out {
    return this.#out.decode(entry);
  }

  /** The value the consumed codec decodes from `entry` (see `decodeOut`). */
  decodeIn(entry: EntryReader): In {
    return this.#in.decode(entry);
  }

  /**
   * Copies entry `idx` out of the shared ring once, then decodes and validates only the copy.
   * The copy is this end's one private buffer: its reader is closed when this returns (see
   * `EntryCopy`), so the value must not read it later.
   * The caller has already advanced its consumer index past `idx`.
   * @throws RingProtocolError ("invalid-entry"), after halting if the options say so.
   */
  consume(idx: number): In {
    const codec = this.#in;
    // The codec sees a read-only view, so the private copy stays exactly what was read; an
    // error report takes a snapshot of it.
    const entry = this.#copy.copy(this.area, idx);
    // Failures are built out of line (#undecodable, #invalidValue) to keep this hot function
    // small enough for V8 to inline it into the driver's loop.
    let value: In;
    try {
      value = codec.decode(entry);
    } catch (cause) {
      entry.close();
      throw this.#undecodable(this.#inKind, idx, entry, cause);
    }
    let detail: string | undefined;
    try {
      detail = codec.validate?.(value);
    } catch (cause) {
      detail = describe(cause);
    }
    entry.close();
    if (detail !== undefined) throw this.#invalidValue(this.#inKind, idx, entry, detail, value);
    return value;
  }

  /** The "invalid-entry" error of entry `idx`, which failed to decode. */
  #undecodable(
    kind: "request" | "response",
    idx: number,
    entry: PrivateEntry,
    cause: unknown,
  ): RingProtocolError {
    const bytes = entry.snapshot();
    return this.#invalid(
      { reason: "invalid-entry", kind, index: idx, detail: describe(cause), bytes },
      cause,
    );
  }

  /** The "invalid-entry" error of entry `idx`, which decoded to `value` but failed validation. */
  #invalidValue(
    kind: "request" | "response",
    idx: number,
    entry: PrivateEntry,
    detail: string,
    value: unknown,
  ): RingProtocolError {
    return this.#invalid({
      reason: "invalid-entry",
      kind,
      index: idx,
      detail,
      bytes: entry.snapshot(),
      value,
    });
  }

  #invalid(
    fault: ConstructorParameters<typeof RingProtocolError>[0],
    cause?: unknown,
  ): RingProtocolError {
    const err = new RingProtocolError(
      fault,
      this.options.name,
      cause === undefined ? undefined : { cause },
    );
    return this.options.onInvalidEntry === "halt" ? this.halt(err) : err;
  }
}
