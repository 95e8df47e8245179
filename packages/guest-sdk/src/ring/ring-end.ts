/**
 * What a `FrontRing` and a `BackRing` expose alike: the ring's geometry and its halted state.
 * Internal to the ring module; each end adds its own indices and operations on top.
 */
import type { RingCore } from "./ring-core.js";
import type { RingProtocolError } from "./ring-error.js";

/** The common part of both ring ends, which produce `Out` entries and consume `In` entries. */
export abstract class RingEnd<Out, In> {
  /** @internal The shared state of this end. */
  protected readonly core: RingCore<Out, In>;
  /** @internal `RING_SIZE`, cached: read on every produce and consume. */
  protected readonly ringSize: number;

  protected constructor(core: RingCore<Out, In>) {
    this.core = core;
    this.ringSize = core.area.ringSize;
  }

  /** `RING_SIZE`: entries in the ring (a power of two). */
  get size(): number {
    return this.ringSize;
  }
  /** log2 of the number of pages. */
  get order(): number {
    return this.core.area.order;
  }
  /** `sizeof(union X_sring_entry)` in bytes. */
  get entrySize(): number {
    return this.core.area.entrySize;
  }
  /** The error that halted this ring, if any. */
  get halted(): RingProtocolError | undefined {
    return this.core.halted;
  }

  /** Halts the ring with `error` (e.g. after a reported invalid entry); the first halt wins. */
  halt(error: RingProtocolError): void {
    this.core.halt(error);
  }
}
