/**
 * The backend end of an `io/ring.h` ring (`X_back_ring`): consumes requests, produces
 * responses — the frontend with directions swapped. It never initialises the shared header
 * (the frontend does); it only attaches.
 *
 * Private state (never shared): `rsp_prod_pvt`, `req_cons`. All index arithmetic is u32
 * (`>>> 0`); indices are only ever compared through differences, never with `<`.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import type { EntryReader, EntryWriter, RingSpec } from "./ring-codec.js";
import { RingCore, type RingOptions, resolveRingOptions } from "./ring-core.js";
import { RingEnd } from "./ring-end.js";
import { RingProtocolError } from "./ring-error.js";
import { REQ_EVENT, REQ_PROD } from "./shared-ring.js";
import { driverInspect } from "../inspect/driver-inspect.js";

/**
 * The backend's private view of an `io/ring.h` ring (`struct X_back_ring`), made with `attach`
 * (`BACK_RING_ATTACH`, or `BACK_RING_INIT` at index 0). Indices are u32 ring positions, sizes
 * are counts of entries. A frontend that breaks the protocol makes it throw RingProtocolError
 * (and halts it for producer-index overflow); misuse by the driver itself (a response with no
 * consumed request) throws RangeError.
 */
export class BackRing<Req, Rsp> extends RingEnd<Rsp, Req> {
  #rspProdPvt: number;
  #reqCons: number;

  private constructor(core: RingCore<Rsp, Req>, start: number) {
    super(core);
    this.#rspProdPvt = start >>> 0;
    this.#reqCons = start >>> 0;
  }

  /**
   * `BACK_RING_ATTACH` (`BACK_RING_INIT` when `start` is 0): attaches to a ring the frontend
   * initialised; `rsp_prod_pvt` = `req_cons` = `start`. The shared header is not touched.
   * @param pages the 2^order mapped pages (order 0..4), in `ring-ref0…` order.
   * @throws RangeError for a bad page list or an entry too large for the ring.
   */
  static attach<Req, Rsp>(
    pages: readonly Page[],
    spec: RingSpec<Req, Rsp>,
    start = 0,
    options?: RingOptions,
  ): BackRing<Req, Rsp> {
    const r = new BackRing(
      new RingCore<Rsp, Req>(pages, spec, "back", resolveRingOptions(options, "back")),
      start,
    );
    if (driverInspect.active)
      driverInspect.ring("back", r, pages, spec as RingSpec<unknown, unknown>, options?.name);
    return r;
  }

  /** Private producer index: the next response goes here. */
  get rspProdPvt(): number {
    return this.#rspProdPvt;
  }
  /** Private consumer index: the next request is read from here. */
  get reqCons(): number {
    return this.#reqCons;
  }
  /** Requests consumed but not yet answered: `req_cons - rsp_prod_pvt`. */
  get outstanding(): number {
    return (this.#reqCons - this.#rspProdPvt) >>> 0;
  }

  /**
   * `RING_HAS_UNCONSUMED_REQUESTS` (4.17, capped):
   * `min(req_prod - req_cons, RING_SIZE - (req_cons - rsp_prod_pvt))`, so a lying frontend
   * cannot claim more than the free part of the ring. @throws RingProtocolError if halted.
   */
  get unconsumedRequests(): number {
    this.core.check();
    const req = (this.core.area.get(REQ_PROD) - this.#reqCons) >>> 0;
    const rsp = (this.size - this.outstanding) >>> 0;
    return req < rsp ? req : rsp; // counts, not indices
  }

  /** `RING_REQUEST_CONS_OVERFLOW(r, cons)`: `(cons - rsp_prod_pvt) >= RING_SIZE`. */
  requestConsOverflow(cons: number): boolean {
    return (cons - this.#rspProdPvt) >>> 0 >= this.size;
  }

  /**
   * Takes the next published request, or `undefined` when there is none (or when consuming it
   * would overrun responses not yet produced: `RING_REQUEST_CONS_OVERFLOW`). Checks
   * `RING_REQUEST_PROD_OVERFLOW` first: a frontend claiming more than RING_SIZE requests
   * halts the ring. The entry is copied out once (`RING_COPY_REQUEST`); only the copy is
   * decoded and validated.
   * @throws RingProtocolError: "req-prod-overflow" (halts), "invalid-entry" (reported; halts
   *   with `onInvalidEntry: "halt"`), or the halting error of an already halted ring.
   */
  consumeRequest(): Req | undefined {
    this.core.check();
    const prod = this.core.area.get(REQ_PROD);
    if ((prod - this.#rspProdPvt) >>> 0 > this.size) throw this.#overflowed(prod);
    const idx = this.#reqCons;
    if (prod === idx || this.requestConsOverflow(idx)) return undefined;
    this.#reqCons = (idx + 1) >>> 0;
    const req = this.core.consume(idx);
    if (driverInspect.active) driverInspect.requestConsumed(this, idx, req);
    return req;
  }

  /**
   * `consumeRequest` without the codec (`RING_COPY_REQUEST` into this end's private buffer, as
   * Linux blkback's `blkif_get_x86_*_req` copies into its own struct): the same overflow checks,
   * then the reader over the private copy of the next request, or `undefined` when there is
   * none. The driver decodes and validates the fields from the reader only, never from the
   * shared slot (XSA-155); the reader is valid until the next consume of this ring (it reuses
   * the buffer). The spec's `validate` does not run.
   * @throws RingProtocolError as `consumeRequest` (but never "invalid-entry").
   */
  copyRequest(): EntryReader | undefined {
    this.core.check();
    const prod = this.core.area.get(REQ_PROD);
    if ((prod - this.#rspProdPvt) >>> 0 > this.size) throw this.#overflowed(prod);
    const idx = this.#reqCons;
    if (prod === idx || this.requestConsOverflow(idx)) return undefined;
    this.#reqCons = (idx + 1) >>> 0;
    const entry = this.core.copyIn(idx);
    if (driverInspect.active) driverInspect.requestConsumed(this, idx, this.#inspectDecode(entry));
    return entry;
  }

  /** The request decoded from the private copy for `driverInspect`, or undefined if decode throws. */
  #inspectDecode(entry: EntryReader): Req | undefined {
    try {
      return this.core.decodeIn(entry);
    } catch {
      return undefined; // a hostile entry: the driver's own checks deal with it
    }
  }

  /** The response the driver wrote raw, decoded for `driverInspect`, or undefined if decode throws. */
  #inspectOut(written: EntryReader): Rsp | undefined {
    try {
      return this.core.decodeOut(written);
    } catch {
      return undefined; // a (test's hostile) backend wrote what the codec cannot read
    }
  }

  /** Halts the ring for `RING_REQUEST_PROD_OVERFLOW` (out of line: keeps `consumeRequest` small to inline). */
  #overflowed(prod: number): RingProtocolError {
    const fault = {
      reason: "req-prod-overflow",
      req_prod: prod,
      req_cons: this.#reqCons,
      rsp_prod_pvt: this.#rspProdPvt,
      RING_SIZE: this.size,
    } as const;
    return this.core.halt(new RingProtocolError(fault, this.core.options.name));
  }

  /**
   * Writes `rsp` into the next response slot (`RING_GET_RESPONSE(r, r->rsp_prod_pvt++)`)
   * without publishing it. Returns the ring index used.
   * @throws RangeError if no consumed request awaits a response (a driver bug) or the codec
   *   rejects the value; RingProtocolError if halted.
   */
  produceResponse(rsp: Rsp): number {
    this.core.check();
    if (this.outstanding === 0)
      throw new RangeError("no consumed request is waiting for a response");
    const idx = this.#rspProdPvt;
    this.core.produce(idx, rsp);
    this.#rspProdPvt = (idx + 1) >>> 0;
    if (driverInspect.active) driverInspect.responseProduced(this, idx, rsp);
    return idx;
  }

  /**
   * `RING_GET_RESPONSE(r, r->rsp_prod_pvt)` for a driver that writes the response's fields
   * itself (as Linux blkback's `make_response` does): a writer over the next response slot's
   * response bytes, zeroed; `commitResponse()` produces it. The writer is valid until then.
   * @throws RangeError if no consumed request awaits a response; RingProtocolError if halted.
   */
  nextResponse(): EntryWriter {
    this.core.check();
    if (this.outstanding === 0)
      throw new RangeError("no consumed request is waiting for a response");
    return this.core.openSlot(this.#rspProdPvt);
  }

  /**
   * Ends the response written through `nextResponse()`: `rsp_prod_pvt++` (not yet published).
   * Returns the ring index used. @throws RangeError without a `nextResponse()` since the last commit.
   */
  commitResponse(): number {
    const idx = this.#rspProdPvt;
    const written = this.core.closeSlot(idx);
    this.#rspProdPvt = (idx + 1) >>> 0;
    if (driverInspect.active) driverInspect.responseProduced(this, idx, this.#inspectOut(written));
    return idx;
  }

  /** `RING_PUSH_RESPONSES`: publishes `rsp_prod = rsp_prod_pvt` (no notification check). */
  pushResponses(): void {
    this.core.publish(this.#rspProdPvt);
    if (driverInspect.active) driverInspect.pushed(this, this.#rspProdPvt);
  }

  /**
   * `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`: publishes `rsp_prod` and returns whether the
   * frontend asked to be notified within the window just published:
   * `(u32)(new - rsp_event) < (u32)(new - old)`.
   * @throws RingProtocolError if halted.
   */
  pushResponsesAndCheckNotify(): boolean {
    const notify = this.core.publishAndCheck(this.#rspProdPvt);
    if (driverInspect.active) driverInspect.pushed(this, this.#rspProdPvt);
    return notify;
  }

  /**
   * `RING_FINAL_CHECK_FOR_REQUESTS`: returns true if requests are waiting; otherwise arms
   * `req_event = req_cons + 1` (notify me on the very next request) and checks again, so a
   * request published before the arm is not missed.
   * @throws RingProtocolError if halted.
   */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests !== 0) return true;
    this.core.area.set(REQ_EVENT, (this.#reqCons + 1) >>> 0);
    // (full barrier in C) re-check: the frontend may have pushed before it could see the new event.
    return this.unconsumedRequests !== 0;
  }

  /**
   * Sets `req_event` directly, for drivers that batch notifications (the customised
   * FINAL_CHECK that `io/ring.h` suggests). @throws RingProtocolError if halted.
   */
  setRequestEvent(idx: number): void {
    this.core.check();
    this.core.area.set(REQ_EVENT, idx >>> 0);
  }
}
