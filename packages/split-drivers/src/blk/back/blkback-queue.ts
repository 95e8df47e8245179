/**
 * One blkback ring (Linux `struct xen_blkif_ring`): consumes requests, checks them, maps their
 * grants, does the storage I/O and answers — `do_block_io_op` / `__do_block_io_op`,
 * `dispatch_rw_block_io`, `xen_blkbk_map`, `xen_blkbk_parse_indirect`, `make_response`.
 *
 * - Each request is copied out of the ring once and decoded from that copy (XSA-155, done by the
 *   SDK's BackRing); indirect pages are copied once and decoded from the copy.
 * - A request that fails a check, or any of whose grants fails to map (XSA-362/365: the batch is
 *   all or nothing), is answered BLKIF_RSP_ERROR with no I/O, and the pass ends with a 1 ms
 *   back-off (Linux's `msleep(1)`); an unknown operation gets BLKIF_RSP_EOPNOTSUPP.
 * - Responses are written whole by the codec (XSA-216); the frontend is notified when the
 *   push says so (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`), and each pass ends with
 *   `RING_FINAL_CHECK_FOR_REQUESTS`. Responses made during a pass are pushed together before
 *   it looks for more requests (one push, at most one notification, per batch).
 * - A storage with `readToPages` / `writeFromPages` (memory) is served synchronously, straight
 *   between the storage and the mapped pages; any other (a file) through a bounce buffer and
 *   promises, answered when the I/O completes.
 * - `RING_REQUEST_PROD_OVERFLOW` halts the ring (Linux: "Frontend provided bogus ring requests
 *   ... Halting ring processing"): nothing more is served, the device reports it with
 *   `xenbus_dev_error` and keeps its xenbus state, dom0 carries on.
 * - The port is bound late-EOI (XSA-332): an event is acknowledged only after its pass, and a
 *   pass that found nothing (a spurious event) delays the EOI more each time in a row, doubling
 *   from 1 ms up to 1 s (Linux `xen_irq_lateeoi` with XEN_EOI_FLAG_SPURIOUS), so a flood of
 *   empty notifications costs dom0 a bounded amount of work per unit of virtual time.
 */
import type { Page, ReadonlyPage } from "@pvkit/hypervisor-sim";
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_RSP,
  XEN_PAGE_SIZE,
} from "@pvkit/hypervisor-sim/abi";
import {
  type BackRing,
  type DriverTimers,
  type EntryReader,
  type EventChannel,
  type GrantMapper,
  type MappedGrant,
  RingProtocolError,
  type TimeoutHandle,
} from "@pvkit/guest-sdk";
import type { BlkifWire } from "../blkif-protocol.js";
import { type BlkifRequest, type BlkifSegment, decodeBlkifRequest } from "../blkif-request.js";
import { type BlkifResponse, BlkifResponseImage } from "../blkif-response.js";
import { blkifResponseOperation, validateBlkifRequest } from "../blkif-validate.js";
import { decodeIndirectSegments } from "../indirect-page.js";
import { type PageSpan, type Storage, StorageError } from "../storage/storage.js";
import type { PersistentGrants, SegmentPage } from "./persistent-grants.js";
import type { Vbd } from "./vbd.js";

/** Linux `msleep(1)` after an error response: 1 ms (ns). */
export const ERROR_BACKOFF_NS = 1_000_000;
/** Spurious events in a row answered with an immediate EOI before delays start. */
export const SPURIOUS_THRESHOLD = 1;
/** Longest spurious-EOI delay: 1 s (Linux caps at HZ). */
export const MAX_EOI_DELAY_NS = 1_000_000_000;

/** Counters of one ring. */
export interface BlkbackQueueStats {
  /** Requests consumed. */
  requests: number;
  reads: number;
  writes: number;
  flushes: number;
  discards: number;
  /** Responses with BLKIF_RSP_ERROR / EOPNOTSUPP. */
  errors: number;
  unsupported: number;
  /** Events delivered, and how many found nothing to do. */
  events: number;
  spurious: number;
  /** EOIs that were delayed, and the total delay (ns). */
  delayedEois: number;
  eoiDelayNs: number;
  /** Ring passes run. */
  passes: number;
  notifications: number;
  /** Storage operations started (reads, writes, flushes, discards). */
  storageOps: number;
  /** Yields to look at the ring again before re-arming `req_event` (see `yieldCpu`). */
  polls: number;
}

/** What a queue is given. */
export interface BlkbackQueueInit {
  readonly index: number;
  readonly name: string;
  readonly ring: BackRing<BlkifRequest, BlkifResponse>;
  /** The layout of the ring's protocol (the one `ring`'s spec encodes). */
  readonly wire: BlkifWire;
  readonly vbd: Vbd;
  readonly mapper: GrantMapper;
  readonly domid: number;
  readonly timers: DriverTimers;
  readonly maxIndirectSegments: number;
  readonly persistent: PersistentGrants | undefined;
  /** The ring halted (producer-index overflow). */
  readonly onHalt: (err: RingProtocolError) => void;
  /** A request was answered EOPNOTSUPP for a feature the backend had offered. */
  readonly onFeatureLost: (feature: "feature-flush-cache" | "feature-barrier") => void;
  /** An unexpected error (a driver bug) — reported, never thrown into the upcall. */
  readonly onError: (err: unknown) => void;
  /**
   * Gives up the CPU until the other runnable vCPUs had a turn (`SCHEDOP_yield`). When given,
   * a pass that served requests yields before its final check and looks at the ring once more
   * (see `#pass`); without it every pass ends with `RING_FINAL_CHECK_FOR_REQUESTS`.
   */
  readonly yieldCpu?: () => Promise<unknown>;
}

type Dispatch = "ok" | "error" | "block";

/** See the file header. */
export class BlkbackQueue {
  readonly index: number;
  readonly stats: BlkbackQueueStats = {
    requests: 0,
    reads: 0,
    writes: 0,
    flushes: 0,
    discards: 0,
    errors: 0,
    unsupported: 0,
    events: 0,
    spurious: 0,
    delayedEois: 0,
    eoiDelayNs: 0,
    passes: 0,
    notifications: 0,
    storageOps: 0,
    polls: 0,
  };
  readonly #i: BlkbackQueueInit;
  #channel: EventChannel | undefined;
  #running = false;
  #again = false;
  #stopped = false;
  #halted: RingProtocolError | undefined;
  #blocked: Promise<void> | undefined;
  #spuriousInRow = 0;
  #backoff = false;
  #eoiAfterBackoff = false;
  readonly #inflight = new Set<Promise<void>>();
  readonly #timers = new Set<TimeoutHandle>();
  /** Reused by the synchronous path (one per segment of the largest request so far). */
  readonly #spans: PageSpan[] = [];
  /** The virtual time at the start of the current pass (one clock read per pass, ns). */
  #now = 0;
  /** Responses produced by this pass but not pushed yet. */
  #unpushed = false;
  /** A yield-then-look-again (`#pass`) is pending. */
  #polling = false;
  /** The fast path's private copy of one direct request's segments (decoded from the ring entry's copy). */
  readonly #grefs: number[] = new Array<number>(BLKIF_MAX_SEGMENTS_PER_REQUEST).fill(0);
  readonly #first = new Uint8Array(BLKIF_MAX_SEGMENTS_PER_REQUEST);
  readonly #last = new Uint8Array(BLKIF_MAX_SEGMENTS_PER_REQUEST);
  /** The fast path's pages of one request (from the persistent-grant cache). */
  readonly #pages: SegmentPage[] = [];
  /** The fast path's response, built privately and written into the slot at once. */
  readonly #response: BlkifResponseImage;

  constructor(init: BlkbackQueueInit) {
    this.#i = init;
    this.index = init.index;
    this.#response = new BlkifResponseImage(init.wire);
  }

  /** The halting error, once the frontend overflowed the ring. */
  get halted(): RingProtocolError | undefined {
    return this.#halted;
  }
  /** Requests being served now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Starts serving on `channel` (bound late-EOI, its handler calling `onEvent`). */
  attach(channel: EventChannel): void {
    this.#channel = channel;
    this.#pass(false); // requests pushed before we were bound
  }

  /** The port's handler: one pass, then the (possibly delayed) EOI. */
  onEvent(): void {
    this.stats.events++;
    if (this.#backoff) {
      // Backing off after an error: the pass and the EOI wait for the back-off to end.
      this.#eoiAfterBackoff = true;
      return;
    }
    const work = this.#pass(true);
    const ch = this.#channel;
    if (ch === undefined || ch.closed) return;
    if (work) {
      this.#spuriousInRow = 0;
      ch.eoi();
      return;
    }
    this.stats.spurious++;
    this.#spuriousInRow = Math.min(this.#spuriousInRow + 1, 64);
    if (this.#spuriousInRow <= SPURIOUS_THRESHOLD) {
      ch.eoi();
      return;
    }
    const delay = Math.min(
      MAX_EOI_DELAY_NS,
      1_000_000 * 2 ** (this.#spuriousInRow - 1 - SPURIOUS_THRESHOLD),
    );
    this.stats.delayedEois++;
    this.stats.eoiDelayNs += delay;
    this.#after(delay, () => {
      if (!ch.closed) ch.eoi();
    });
  }

  /** Stops serving and waits for requests in flight to be answered (Linux's disconnect waits too). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  #after(ns: number, fn: () => void): void {
    const t = this.#i.timers.after(ns, () => {
      this.#timers.delete(t);
      if (!this.#stopped) fn();
    });
    this.#timers.add(t);
  }

  /** One pass over the ring; returns whether any request was consumed. */
  #pass(fromEvent: boolean): boolean {
    if (this.#stopped || this.#halted !== undefined || this.#blocked !== undefined || this.#backoff)
      return false;
    if (this.#running) {
      this.#again = true;
      return false;
    }
    this.#running = true;
    let work = false;
    const ring = this.#i.ring;
    try {
      this.stats.passes++;
      this.#now = this.#i.timers.now();
      this.#purge();
      do {
        this.#again = false;
        for (let entry = ring.copyRequest(); entry !== undefined; entry = ring.copyRequest()) {
          work = true;
          this.stats.requests++;
          const r = this.#dispatchEntry(entry);
          if (r === "error") {
            // Linux: msleep(1), then RING_FINAL_CHECK_FOR_REQUESTS. The check re-arms
            // req_event now, so a frontend pushing meanwhile notifies as usual.
            this.#backoff = true;
            ring.finalCheckForRequests();
            this.#after(ERROR_BACKOFF_NS, () => this.#endBackoff());
            return work;
          }
          if (r === "block") return work;
        }
        this.#flushResponses();
        if (work && this.#i.yieldCpu !== undefined && !this.#again) {
          // The deferred final check: rather than re-arming req_event now, yield and look at the
          // ring again once the other vCPUs ran, as a busy backend thread would still be in its
          // loop. A frontend that queues its next batch meanwhile sees req_event behind its
          // req_prod and need not notify; a look that finds nothing does the final check then.
          this.#poll();
          return work;
        }
      } while (ring.finalCheckForRequests() || this.#again);
    } catch (e) {
      if (e instanceof RingProtocolError && ring.halted !== undefined) {
        this.#halted = ring.halted;
        this.#i.onHalt(ring.halted);
      } else this.#i.onError(e);
    } finally {
      this.#running = false;
      this.#flushResponses();
    }
    void fromEvent;
    return work;
  }

  /** Yields, then runs a pass (which polls again only if it finds requests). */
  #poll(): void {
    if (this.#polling) return;
    this.#polling = true;
    this.stats.polls++;
    this.#i.yieldCpu!().then(
      () => {
        this.#polling = false;
        this.#pass(false);
      },
      (e: unknown) => {
        this.#polling = false;
        this.#i.onError(e);
      },
    );
  }

  #endBackoff(): void {
    this.#backoff = false;
    this.#pass(false);
    if (this.#eoiAfterBackoff && !this.#backoff) {
      this.#eoiAfterBackoff = false;
      const ch = this.#channel;
      if (ch !== undefined && !ch.closed) ch.eoi();
    }
  }

  #purge(): void {
    const p = this.#i.persistent;
    if (p === undefined) return;
    try {
      p.purge(this.#now);
    } catch (e) {
      this.#i.onError(e);
    }
  }

  /**
   * One request from the ring's private copy `e` (XSA-155: every field is read from the copy,
   * once). A direct READ or WRITE that passes every check of `validateBlkifRequest` and `Vbd`,
   * on a synchronous storage with persistent grants, is served here straight from the copy's
   * fields (no request object); anything else is decoded from the same copy and goes through
   * `#dispatch`, which answers it exactly as before, error statuses included.
   */
  #dispatchEntry(e: EntryReader): Dispatch {
    const op = e.getU8(0);
    const p = this.#i.persistent;
    const storage = this.#i.vbd.storage;
    if (
      (op === BLKIF_OP.BLKIF_OP_READ || op === BLKIF_OP.BLKIF_OP_WRITE) &&
      p !== undefined &&
      storage.readToPages !== undefined &&
      storage.writeFromPages !== undefined
    ) {
      const w = this.#i.wire.rw;
      const n = e.getU8(w.nr_segments);
      if (n >= 1 && n <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        const grefs = this.#grefs;
        const first = this.#first;
        const last = this.#last;
        let nrSects = 0;
        let ok = true;
        for (let i = 0; i < n; i++) {
          const at = w.seg + i * 8;
          const f = e.getU8(at + 4);
          const l = e.getU8(at + 5);
          if (l >= 8 || l < f) ok = false;
          grefs[i] = e.getU32(at);
          first[i] = f;
          last[i] = l;
          nrSects += l - f + 1;
        }
        const hi = e.getU32(w.sector_number + 4);
        const sector = hi * 2 ** 32 + e.getU32(w.sector_number);
        const vbd = this.#i.vbd;
        const write = op === BLKIF_OP.BLKIF_OP_WRITE;
        if (
          ok &&
          hi < 2 ** 21 &&
          vbd.translate(write, sector, nrSects) === undefined &&
          this.#aligned(sector, n)
        ) {
          return this.#fastRw(
            e,
            op,
            sector,
            n,
            p,
            storage as Required<Pick<typeof storage, "readToPages" | "writeFromPages">>,
          );
        }
      }
    }
    return this.#dispatch(decodeBlkifRequest(e, this.#i.wire));
  }

  /** `Vbd.checkAlignment` over the fast path's segment copy. */
  #aligned(sector: number, n: number): boolean {
    const per = this.#i.vbd.storage.sectorSize / 512;
    if (per === 1) return true;
    if (sector % per !== 0) return false;
    for (let i = 0; i < n; i++)
      if ((this.#last[i]! - this.#first[i]! + 1) % per !== 0) return false;
    return true;
  }

  /** The fast path's I/O: a checked direct read or write of `n` segments, answered now. */
  #fastRw(
    e: EntryReader,
    op: number,
    sector: number,
    n: number,
    p: PersistentGrants,
    storage: Required<Pick<Storage, "readToPages" | "writeFromPages">>,
  ): Dispatch {
    const idAt = this.#i.wire.rw.id;
    const idLo = e.getU32(idAt);
    const idHi = e.getU32(idAt + 4);
    const pages = this.#pages;
    let temporary: readonly MappedGrant<ReadonlyPage>[];
    try {
      temporary = p.takeInto(this.#grefs, n, this.#now, pages);
    } catch {
      this.#respondRaw(idLo, idHi, op, BLKIF_RSP.BLKIF_RSP_ERROR); // XSA-362/365: any segment failing fails all
      return "error";
    }
    let status: number = BLKIF_RSP.BLKIF_RSP_OKAY;
    try {
      const spans = this.#spans;
      for (let i = 0; i < n; i++) {
        let sp = spans[i];
        if (sp === undefined) spans.push((sp = { page: pages[i]!.page, offset: 0, length: 0 }));
        sp.page = pages[i]!.page;
        sp.offset = this.#first[i]! * 512;
        sp.length = (this.#last[i]! - this.#first[i]! + 1) * 512;
      }
      this.stats.storageOps++;
      if (op === BLKIF_OP.BLKIF_OP_READ) {
        this.stats.reads++;
        storage.readToPages(sector * 512, spans, n);
      } else {
        this.stats.writes++;
        storage.writeFromPages(sector * 512, spans, n);
      }
    } catch (err) {
      status = this.#statusOf(err, op);
    } finally {
      p.releaseN(pages, n);
      this.#unmap(temporary);
    }
    this.#respondRaw(idLo, idHi, op, status);
    return "ok";
  }

  #dispatch(req: BlkifRequest): Dispatch {
    const problem = validateBlkifRequest(req, { maxIndirectSegments: this.#i.maxIndirectSegments });
    if (problem !== undefined) {
      this.#respond(req, problem.status);
      return problem.status === BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP ? "ok" : "error";
    }
    if (req.kind === "discard")
      return this.#discard(req.sector_number, req.nr_sectors, (req.flag & 1) !== 0, req);
    if (req.kind === "other") return "ok"; // unreachable: validate answered it
    const op = req.kind === "indirect" ? req.indirect_op : req.operation;
    const f = this.#i.vbd.features;
    if (
      (op === BLKIF_OP.BLKIF_OP_WRITE_BARRIER && !f.barrier) ||
      (op === BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE && !f.flush)
    ) {
      this.#respond(req, BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP);
      return "ok";
    }
    let segments: readonly BlkifSegment[];
    if (req.kind === "indirect") {
      const s = this.#indirectSegments(req.indirect_grefs, req.nr_segments);
      if (s === undefined) {
        this.#respond(req, BLKIF_RSP.BLKIF_RSP_ERROR);
        return "error";
      }
      segments = s;
    } else segments = req.seg;
    const vbd = this.#i.vbd;
    let nrSects = 0;
    for (const s of segments) nrSects += s.last_sect - s.first_sect + 1;
    const write = op !== BLKIF_OP.BLKIF_OP_READ;
    const refusal =
      vbd.translate(write, req.sector_number, nrSects) ??
      vbd.checkAlignment(req.sector_number, segments);
    if (refusal !== undefined) {
      this.#respond(req, BLKIF_RSP.BLKIF_RSP_ERROR);
      return "error";
    }
    let mapped: Mapped;
    try {
      mapped = this.#map(segments, op === BLKIF_OP.BLKIF_OP_READ);
    } catch {
      this.#respond(req, BLKIF_RSP.BLKIF_RSP_ERROR); // XSA-362/365: any segment failing fails all
      return "error";
    }
    const barrier = op === BLKIF_OP.BLKIF_OP_WRITE_BARRIER;
    const io = this.#rw(req, op, req.sector_number, segments, mapped, barrier);
    if (!barrier || io === undefined) return "ok";
    this.#blocked = io.finally(() => {
      this.#blocked = undefined;
      this.#pass(false);
    });
    return "block";
  }

  /** Maps and copies the indirect pages once, then decodes only the copies (XSA-155). */
  #indirectSegments(grefs: readonly number[], nr: number): BlkifSegment[] | undefined {
    let maps: MappedGrant<ReadonlyPage>[];
    try {
      maps = this.#i.mapper.map(grefs, this.#i.domid, { readonly: true });
    } catch {
      return undefined;
    }
    let copies: Uint8Array[];
    try {
      copies = maps.map((m) => m.page.read(0, XEN_PAGE_SIZE));
    } finally {
      this.#unmap(maps);
    }
    const r = decodeIndirectSegments(copies, nr);
    return r.ok ? r.segments : undefined;
  }

  #map(segments: readonly BlkifSegment[], read: boolean): Mapped {
    const grefs = segments.map((s) => s.gref);
    if (grefs.length === 0) return { pages: [], temporary: [] };
    const p = this.#i.persistent;
    if (p !== undefined) return p.take(grefs, this.#now);
    // Non-persistent: a write only reads the frontend's pages, so they are mapped read-only.
    const maps = this.#i.mapper.map(grefs, this.#i.domid, { readonly: !read });
    return {
      pages: maps.map((m, i) => ({ page: m.page as Page, persistent: false, gref: grefs[i]! })),
      temporary: maps,
    };
  }

  #rw(
    req: BlkifRequest,
    op: number,
    sector: number,
    segments: readonly BlkifSegment[],
    mapped: Mapped,
    barrier: boolean,
  ): Promise<void> | undefined {
    const storage = this.#i.vbd.storage;
    if (
      !barrier &&
      op !== BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE &&
      segments.length > 0 &&
      storage.readToPages !== undefined &&
      storage.writeFromPages !== undefined
    ) {
      // Synchronous storage (memory): straight between the storage and the mapped pages, answered
      // now; the response is pushed with the rest of the pass's (#flushResponses).
      let status: number = BLKIF_RSP.BLKIF_RSP_OKAY;
      try {
        const spans = this.#spansFor(segments, mapped.pages);
        this.stats.storageOps++;
        if (op === BLKIF_OP.BLKIF_OP_READ) {
          this.stats.reads++;
          storage.readToPages(sector * 512, spans, segments.length);
        } else {
          this.stats.writes++;
          storage.writeFromPages(sector * 512, spans, segments.length);
        }
      } catch (e) {
        status = this.#statusOf(e, op);
      } finally {
        this.#release(mapped);
      }
      this.#respond(req, status);
      return undefined;
    }
    // A barrier waits for everything before it (Linux `xen_blk_drain_io`); the pass stops
    // consuming behind it, so nothing newer can slip in.
    const before = barrier ? [...this.#inflight] : [];
    return this.#track(this.#rwAsync(req, op, sector, segments, mapped, barrier, before));
  }

  /** The segments' sectors in their pages, in the reused span array (no allocation once grown). */
  #spansFor(segments: readonly BlkifSegment[], pages: readonly SegmentPage[]): PageSpan[] {
    const spans = this.#spans;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      let sp = spans[i];
      if (sp === undefined) spans.push((sp = { page: pages[i]!.page, offset: 0, length: 0 }));
      sp.page = pages[i]!.page;
      sp.offset = s.first_sect * 512;
      sp.length = (s.last_sect - s.first_sect + 1) * 512;
    }
    return spans;
  }

  async #rwAsync(
    req: BlkifRequest,
    op: number,
    sector: number,
    segments: readonly BlkifSegment[],
    mapped: Mapped,
    barrier: boolean,
    before: Promise<void>[],
  ): Promise<void> {
    const storage = this.#i.vbd.storage;
    let status: number = BLKIF_RSP.BLKIF_RSP_OKAY;
    try {
      if (before.length > 0) await Promise.allSettled(before);
      if (op === BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE || barrier) {
        this.stats.flushes++;
        this.stats.storageOps++;
        await storage.flush();
      }
      if (segments.length > 0) {
        const buf = new Uint8Array(segmentBytes(segments));
        this.stats.storageOps++;
        if (op === BLKIF_OP.BLKIF_OP_READ) {
          this.stats.reads++;
          await storage.read(sector * 512, buf);
          scatter(buf, segments, mapped.pages);
        } else {
          this.stats.writes++;
          gather(buf, segments, mapped.pages);
          await storage.write(sector * 512, buf);
          if (barrier) await storage.flush();
        }
      }
    } catch (e) {
      status = this.#statusOf(e, op);
    } finally {
      this.#release(mapped);
    }
    this.#respond(req, status);
  }

  #discard(sector: number, nrSectors: number, secure: boolean, req: BlkifRequest): Dispatch {
    const vbd = this.#i.vbd;
    if (!vbd.features.discard || (secure && !vbd.features.secureDiscard)) {
      this.#respond(req, BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP);
      return "ok";
    }
    if (vbd.checkDiscard(sector, nrSectors) !== undefined) {
      this.#respond(req, BLKIF_RSP.BLKIF_RSP_ERROR);
      return "error";
    }
    this.stats.discards++;
    this.stats.storageOps++;
    this.#track(
      vbd.storage.discard(sector * 512, nrSectors * 512, secure).then(
        () => this.#respond(req, BLKIF_RSP.BLKIF_RSP_OKAY),
        (e: unknown) =>
          this.#respond(
            req,
            e instanceof StorageError && e.code === "EOPNOTSUPP"
              ? BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP
              : BLKIF_RSP.BLKIF_RSP_ERROR,
          ),
      ),
    );
    return "ok";
  }

  #statusOf(e: unknown, op: number): number {
    if (e instanceof StorageError && e.code === "EOPNOTSUPP") {
      if (op === BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE) this.#i.onFeatureLost("feature-flush-cache");
      if (op === BLKIF_OP.BLKIF_OP_WRITE_BARRIER) this.#i.onFeatureLost("feature-barrier");
      return BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP;
    }
    if (!(e instanceof StorageError)) this.#i.onError(e);
    return BLKIF_RSP.BLKIF_RSP_ERROR;
  }

  #track(p: Promise<void>): Promise<void> {
    const t = p.catch((e: unknown) => this.#i.onError(e)).finally(() => this.#inflight.delete(t));
    this.#inflight.add(t);
    return t;
  }

  #release(m: Mapped): void {
    this.#i.persistent?.release(m.pages);
    this.#unmap(m.temporary);
  }

  #unmap(maps: readonly MappedGrant<ReadonlyPage>[]): void {
    if (maps.length === 0) return;
    try {
      this.#i.mapper.unmap(maps);
    } catch (e) {
      this.#i.onError(e);
    }
  }

  /**
   * `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY` for what was produced: the frontend is notified only
   * when its `rsp_event` falls among the newly pushed responses, so one push of a batch costs at
   * most one notification.
   */
  #pushResponsesAndCheckNotify(): void {
    this.#unpushed = false;
    if (this.#i.ring.pushResponsesAndCheckNotify()) {
      this.stats.notifications++;
      this.#channel?.notify();
    }
  }

  /** Pushes the responses a pass produced (before it looks for more requests, and as it ends). */
  #flushResponses(): void {
    if (!this.#unpushed) return;
    try {
      this.#pushResponsesAndCheckNotify();
    } catch (e) {
      if (!(e instanceof RingProtocolError)) this.#i.onError(e);
    }
  }

  /**
   * `make_response` from the fast path: the request's u64 id as its two u32 halves, the whole
   * response (every byte, XSA-216) built privately and written into the slot at once, pushed
   * with the pass's batch. Only called inside a pass.
   */
  #respondRaw(idLo: number, idHi: number, op: number, status: number): void {
    if (status === BLKIF_RSP.BLKIF_RSP_ERROR) this.stats.errors++;
    else if (status === BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP) this.stats.unsupported++;
    if (this.#halted !== undefined) return;
    const ring = this.#i.ring;
    try {
      this.#response.writeTo(ring.nextResponse(), idLo, idHi, op, status);
      ring.commitResponse();
      this.#unpushed = true;
    } catch (e) {
      if (!(e instanceof RingProtocolError)) this.#i.onError(e);
    }
  }

  /** `make_response`: one whole response; pushed now, or with its pass's batch when in one. */
  #respond(req: BlkifRequest, status: number): void {
    if (status === BLKIF_RSP.BLKIF_RSP_ERROR) this.stats.errors++;
    else if (status === BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP) this.stats.unsupported++;
    if (this.#halted !== undefined) return;
    const ring = this.#i.ring;
    try {
      ring.produceResponse({ id: req.id, operation: blkifResponseOperation(req), status });
      if (this.#running) {
        // Inside a pass: pushed once with the pass's other responses (#flushResponses).
        this.#unpushed = true;
        return;
      }
      this.#pushResponsesAndCheckNotify();
    } catch (e) {
      if (!(e instanceof RingProtocolError)) this.#i.onError(e);
      return;
    }
    // Consumption may have stopped with the ring's request window full: look again.
    if (!this.#running && !this.#stopped && this.#blocked === undefined && !this.#backoff) {
      try {
        if (ring.unconsumedRequests > 0) this.#pass(false);
      } catch {
        // halted meanwhile: the next pass reports it
      }
    }
  }
}

interface Mapped {
  readonly pages: readonly SegmentPage[];
  readonly temporary: readonly MappedGrant<ReadonlyPage>[];
}

function segmentBytes(segments: readonly BlkifSegment[]): number {
  let n = 0;
  for (const s of segments) n += (s.last_sect - s.first_sect + 1) * 512;
  return n;
}

/** Copies a read's bytes into the segments' pages (sectors first_sect..last_sect of each). */
function scatter(
  buf: Uint8Array,
  segments: readonly BlkifSegment[],
  pages: readonly SegmentPage[],
): void {
  let at = 0;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const len = (s.last_sect - s.first_sect + 1) * 512;
    pages[i]!.page.write(s.first_sect * 512, buf.subarray(at, at + len));
    at += len;
  }
}

/** Copies a write's bytes out of the segments' pages. */
function gather(
  buf: Uint8Array,
  segments: readonly BlkifSegment[],
  pages: readonly SegmentPage[],
): void {
  let at = 0;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const len = (s.last_sect - s.first_sect + 1) * 512;
    pages[i]!.page.readInto(s.first_sect * 512, buf, at, len);
    at += len;
  }
}
