/**
 * The frontend end of an `io/ring.h` ring (`X_front_ring`): produces requests, consumes
 * responses. Synchronous and ignorant of event channels: `pushRequestsAndCheckNotify()` says whether the
 * backend must be notified and the driver sends the event.
 *
 * Private state (never shared): `req_prod_pvt`, `rsp_cons`. All index arithmetic is u32
 * (`>>> 0`); indices are only ever compared through differences, never with `<`.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import type { EntryReader, EntryWriter, RingSpec } from "./ring-codec.js";
import { RingCore, type RingOptions, resolveRingOptions } from "./ring-core.js";
import { RingEnd } from "./ring-end.js";
import { RingProtocolError } from "./ring-error.js";
import { RSP_EVENT, RSP_PROD } from "./shared-ring.js";
import { driverInspect } from "../inspect/driver-inspect.js";

/**
 * The frontend's private view of an `io/ring.h` ring (`struct X_front_ring`). Create it with
 * `init` (`XEN_FRONT_RING_INIT`: `SHARED_RING_INIT` + `FRONT_RING_INIT`) or `attach`
 * (`FRONT_RING_ATTACH`).
 * Indices are u32 ring positions, sizes are counts of entries. A backend that breaks the
 * protocol makes it throw RingProtocolError (and usually halts it); misuse by the driver itself
 * (producing into a full ring) throws RangeError.
 */
export class FrontRing<Req, Rsp> extends RingEnd<Req, Rsp> {
  #reqProdPvt: number;
  #rspCons: number;

  private constructor(core: RingCore<Req, Rsp>, start: number) {
    super(core);
    this.#reqProdPvt = start >>> 0;
    this.#rspCons = start >>> 0;
  }

  /**
   * `XEN_FRONT_RING_INIT`: initialises the shared header (`SHARED_RING_INIT`: producers 0,
   * event indices 1, `pvt`/`__pad` zeroed) and attaches at index 0. Only the frontend
   * initialises a ring, before granting it; the backend only attaches.
   * @param pages 2^order writable pages (order 0..4) forming the ring.
   * @throws RangeError for a bad page list or an entry too large for the ring.
   */
  static init<Req, Rsp>(
    pages: readonly Page[],
    spec: RingSpec<Req, Rsp>,
    options?: RingOptions,
  ): FrontRing<Req, Rsp> {
    const core = new RingCore<Req, Rsp>(pages, spec, "front", resolveRingOptions(options, "front"));
    core.area.initHeader();
    const r = new FrontRing(core, 0);
    if (driverInspect.active)
      driverInspect.ring("front", r, pages, spec as RingSpec<unknown, unknown>, core.options.name);
    return r;
  }

  /**
   * `FRONT_RING_ATTACH`: attaches to a ring whose shared indices already stand at `start`
   * (`req_prod_pvt` = `rsp_cons` = `start`), e.g. when resuming a connection. The shared
   * header is not touched.
   * @throws RangeError for a bad page list or an entry too large for the ring.
   */
  static attach<Req, Rsp>(
    pages: readonly Page[],
    spec: RingSpec<Req, Rsp>,
    start: number,
    options?: RingOptions,
  ): FrontRing<Req, Rsp> {
    const r = new FrontRing(
      new RingCore<Req, Rsp>(pages, spec, "front", resolveRingOptions(options, "front")),
      start,
    );
    if (driverInspect.active)
      driverInspect.ring("front", r, pages, spec as RingSpec<unknown, unknown>, options?.name);
    return r;
  }

  /** Private producer index: the next request goes here. */
  get reqProdPvt(): number {
    return this.#reqProdPvt;
  }
  /** Private consumer index: the next response is read from here. */
  get rspCons(): number {
    return this.#rspCons;
  }

  /**
   * `RING_FREE_REQUESTS`: `RING_SIZE - (req_prod_pvt - rsp_cons)`, from private indices only, so
   * within 0..RING_SIZE whatever the backend publishes (`consumeResponse` never lets `rsp_cons`
   * pass `req_prod_pvt`). @throws RingProtocolError if halted.
   */
  get freeRequests(): number {
    this.core.check();
    return (this.size - ((this.#reqProdPvt - this.#rspCons) >>> 0)) >>> 0;
  }
  /** `RING_FULL`. @throws RingProtocolError if halted. */
  get full(): boolean {
    return this.freeRequests === 0;
  }
  /**
   * `RING_HAS_UNCONSUMED_RESPONSES` (`XEN_RING_NR_UNCONSUMED_RESPONSES` in later headers):
   * `sring.rsp_prod - rsp_cons`, as the backend claims it (u32). A lying backend can make it
   * larger than the requests outstanding, or than the ring; `consumeResponse` refuses such a
   * claim and halts the ring. @throws RingProtocolError if halted.
   */
  get unconsumedResponses(): number {
    this.core.check();
    return (this.core.area.get(RSP_PROD) - this.#rspCons) >>> 0;
  }

  /**
   * Writes `req` into the next free slot (`RING_GET_REQUEST(r, r->req_prod_pvt++)`) without
   * publishing it. Returns the ring index used.
   * @throws RangeError if the ring is full (a driver bug) or the codec rejects the value;
   *   RingProtocolError if halted.
   */
  produceRequest(req: Req): number {
    if (this.full) throw ringFull(this.size);
    const idx = this.#reqProdPvt;
    this.core.produce(idx, req);
    this.#reqProdPvt = (idx + 1) >>> 0;
    if (driverInspect.active) driverInspect.requestProduced(this, idx, req);
    return idx;
  }

  /**
   * `RING_GET_REQUEST(r, r->req_prod_pvt)` for a driver that writes the request's fields
   * itself (as Linux blkfront fills `ring_req` in place): a writer over the next free slot's
   * request bytes, zeroed. Nothing is produced until `commitRequest()`; opening again without
   * committing rewrites the same slot. The writer is valid until `commitRequest()`.
   * @throws RangeError if the ring is full (a driver bug); RingProtocolError if halted.
   */
  nextRequest(): EntryWriter {
    if (this.full) throw ringFull(this.size);
    return this.core.openSlot(this.#reqProdPvt);
  }

  /**
   * Ends the request written through `nextRequest()`: `req_prod_pvt++` (not yet published).
   * Returns the ring index used.
   * @throws RangeError without a `nextRequest()` since the last commit.
   */
  commitRequest(): number {
    const idx = this.#reqProdPvt;
    const written = this.core.closeSlot(idx);
    this.#reqProdPvt = (idx + 1) >>> 0;
    if (driverInspect.active)
      driverInspect.requestProduced(this, idx, this.core.decodeOut(written));
    return idx;
  }

  /** `RING_PUSH_REQUESTS`: publishes `req_prod = req_prod_pvt` (no notification check). */
  pushRequests(): void {
    this.core.publish(this.#reqProdPvt);
    if (driverInspect.active) driverInspect.pushed(this, this.#reqProdPvt);
  }

  /**
   * `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`: publishes `req_prod` and returns whether the backend
   * asked to be notified within the window just published:
   * `(u32)(new - req_event) < (u32)(new - old)`.
   * @throws RingProtocolError if halted.
   */
  pushRequestsAndCheckNotify(): boolean {
    const notify = this.core.publishAndCheck(this.#reqProdPvt);
    if (driverInspect.active) driverInspect.pushed(this, this.#reqProdPvt);
    return notify;
  }

  /**
   * Takes the next published response, or `undefined` when there is none. Before touching any
   * entry it checks the backend's `rsp_prod` (one read per call) against this end's private
   * indices, and halts the ring if the claim is impossible:
   * - more than RING_SIZE unconsumed responses: `RING_RESPONSE_PROD_OVERFLOW`, as the
   *   hardened Linux frontends check it (xen-blkfront.c: blkif_interrupt, xen-netfront.c:
   *   xennet_tx_buf_gc / xennet_poll);
   * - otherwise, more unconsumed responses than requests outstanding
   *   (`rsp_prod - rsp_cons > req_prod_pvt - rsp_cons`). `io/ring.h` has no macro for this; the
   *   Linux frontends catch the extra responses later, by their ids. Checking it here keeps
   *   `rsp_cons` from passing `req_prod_pvt`, so `freeRequests` never exceeds RING_SIZE, and no
   *   response of the lying batch reaches the caller.
   * The entry is copied out once; only the copy is decoded and validated.
   * @throws RingProtocolError: "rsp-prod-overflow" or "rsp-prod-beyond-requests" (both halt),
   *   "invalid-entry" (halts unless `onInvalidEntry: "report"`), or the halting error of an
   *   already halted ring.
   */
  consumeResponse(): Rsp | undefined {
    this.core.check();
    const prod = this.core.area.get(RSP_PROD);
    const idx = this.#rspCons;
    const avail = (prod - idx) >>> 0;
    // One compare covers both rules: outstanding <= RING_SIZE always holds (produceRequest
    // refuses a full ring, and this check keeps rsp_cons from passing req_prod_pvt).
    if (avail > (this.#reqProdPvt - idx) >>> 0) throw this.#overclaimed(prod);
    if (avail === 0) return undefined;
    this.#rspCons = (idx + 1) >>> 0;
    const rsp = this.core.consume(idx);
    if (driverInspect.active) driverInspect.responseConsumed(this, idx, rsp);
    return rsp;
  }

  /**
   * `consumeResponse` without the codec (`RING_COPY_RESPONSE` into this end's private buffer):
   * the same `rsp_prod` checks, then the reader over the private copy of the next response, or
   * `undefined` when there is none. The driver decodes the fields from the reader, which is
   * valid until the next consume of this ring (it reuses the buffer). The spec's `validate`
   * does not run: the driver checks what it reads.
   * @throws RingProtocolError as `consumeResponse` (but never "invalid-entry").
   */
  copyResponse(): EntryReader | undefined {
    this.core.check();
    const prod = this.core.area.get(RSP_PROD);
    const idx = this.#rspCons;
    const avail = (prod - idx) >>> 0;
    if (avail > (this.#reqProdPvt - idx) >>> 0) throw this.#overclaimed(prod);
    if (avail === 0) return undefined;
    this.#rspCons = (idx + 1) >>> 0;
    const entry = this.core.copyIn(idx);
    if (driverInspect.active) driverInspect.responseConsumed(this, idx, this.core.decodeIn(entry));
    return entry;
  }

  /**
   * Halts the ring for a `rsp_prod` claiming more responses than requests outstanding:
   * "rsp-prod-overflow" when it is beyond RING_SIZE (`RING_RESPONSE_PROD_OVERFLOW`, checked
   * first), else "rsp-prod-beyond-requests". Out of line: keeps `consumeResponse` small to inline.
   */
  #overclaimed(prod: number): RingProtocolError {
    const rsp_cons = this.#rspCons;
    const req_prod_pvt = this.#reqProdPvt;
    const fault =
      (prod - rsp_cons) >>> 0 > this.size
        ? ({
            reason: "rsp-prod-overflow",
            rsp_prod: prod,
            rsp_cons,
            req_prod_pvt,
            RING_SIZE: this.size,
          } as const)
        : ({
            reason: "rsp-prod-beyond-requests",
            rsp_prod: prod,
            rsp_cons,
            req_prod_pvt,
            outstanding: (req_prod_pvt - rsp_cons) >>> 0,
          } as const);
    return this.core.halt(new RingProtocolError(fault, this.core.options.name));
  }

  /**
   * `RING_FINAL_CHECK_FOR_RESPONSES`: returns true if responses are waiting; otherwise arms
   * `rsp_event = rsp_cons + 1` (notify me on the very next response) and checks again, so a
   * response published before the arm is not missed. Like the C macro it trusts the count: an
   * impossible `rsp_prod` reads as work, and the `consumeResponse` that follows halts on it.
   * @throws RingProtocolError if halted.
   */
  finalCheckForResponses(): boolean {
    if (this.unconsumedResponses !== 0) return true;
    this.core.area.set(RSP_EVENT, (this.#rspCons + 1) >>> 0);
    // (full barrier in C) re-check: the backend may have pushed before it could see the new event.
    return this.unconsumedResponses !== 0;
  }

  /**
   * Sets `rsp_event` directly, for drivers that batch notifications (the customised
   * FINAL_CHECK that `io/ring.h` suggests). @throws RingProtocolError if halted.
   */
  setResponseEvent(idx: number): void {
    this.core.check();
    this.core.area.set(RSP_EVENT, idx >>> 0);
  }
}

/** The error for producing into a full ring (out of line: keeps `produceRequest` small to inline). */
function ringFull(size: number): RangeError {
  return new RangeError(`ring full: ${size} requests outstanding`);
}
