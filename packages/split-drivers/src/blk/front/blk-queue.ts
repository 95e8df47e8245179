/**
 * One blkfront queue (Linux `struct blkfront_ring_info`): a ring, its event channel, the shadow
 * of every request in flight, and the persistent-grant pool. It turns a chunk of I/O into one
 * ring request (`blkif_queue_rw_req` / `blkif_setup_rw_req_grant`), and handles responses with
 * the 2021 hardening of `blkif_interrupt` in Linux's order:
 *
 * 1. the ring's own check of `rsp_prod` (RING_RESPONSE_PROD_OVERFLOW, or more responses than
 *    requests outstanding) → `ring-protocol`;
 * 2. `id >= RING_SIZE` → `bad-response-id`;
 * 3. the shadow of `id` is not waiting → `response-not-pending`;
 * 4. `operation` differs from the request's (its `indirect_op` for an indirect one) →
 *    `wrong-operation`;
 * 5. `blkif_completion`: a non-persistent grant the backend still maps → `grant-still-mapped`
 *    (XSA-396: the SDK's grant client defers the end; the page stays quarantined).
 * Any of these disables the device; the rest of the batch is not looked at.
 *
 * Data goes through bounce pages, never the caller's memory: each segment is one page from the
 * guest's allocator, zeroed when handed out (XSA-403), holding exactly the request's bytes.
 * Writes are granted read-only, reads writable. With persistent grants the pages are granted
 * writable once and reused; the part of a reused page outside the request is zeroed first.
 * Indirect pages hold only their segment array (the rest zero) and are granted read-only.
 */
import { BLKIF_OP, BLKIF_RSP, BLKIF_DISCARD_SECURE, XEN_PAGE_SIZE } from "@pvkit/hypervisor-sim/abi";
import { type EventChannel, type FrontRing, type GrantedPage, RingProtocolError, type XenbusDevice } from "@pvkit/guest-sdk";
import type { BlkifRequest, BlkifSegment } from "../blkif-request.js";
import type { BlkifResponse } from "../blkif-response.js";
import { encodeIndirectSegments } from "../indirect-page.js";
import { BlkfrontError } from "./blkfront-error.js";
import type { BlkfrontFlushMode } from "./negotiate.js";

/** Bytes per segment frame and 512-byte sectors in it. */
const PAGE = XEN_PAGE_SIZE;
const SECT = 512;
const SECTS_PER_PAGE = 8;

/** What one ring request does. */
export type ChunkOp = "read" | "write" | "flush" | "discard";

/** The caller's request a chunk belongs to: settled once, when its last chunk is done or one fails. */
export interface Bio {
  pending: number;
  settled: boolean;
  readonly resolve: () => void;
  readonly reject: (e: BlkfrontError) => void;
}

/** The unit of one ring request; re-issued whole after a backend restart (`blkif_recover`). */
export interface Chunk {
  /** Submission order: re-issued chunks keep it. */
  readonly seq: number;
  readonly op: ChunkOp;
  /** First 512-byte sector. */
  readonly sector: number;
  /** 512-byte sectors (0 for a flush). */
  readonly nsect: number;
  /** `nsect * 512` bytes: the destination of a read, the source of a write. */
  readonly data: Uint8Array | undefined;
  /** Discard: BLKIF_DISCARD_SECURE. */
  readonly secure: boolean;
  readonly bio: Bio;
}

/** The features a queue builds requests with (live: EOPNOTSUPP turns some off). */
export interface QueueFeatures {
  readonly flush: BlkfrontFlushMode;
  readonly persistent: boolean;
  readonly maxIndirectSegments: number;
}

/** What a queue reports to its disk. */
export interface QueueHost {
  readonly device: string;
  features(): QueueFeatures;
  /** A chunk finished: `undefined` is success. */
  complete(chunk: Chunk, error: BlkfrontError | undefined): void;
  /** `feature_flush = 0` / `feature_discard = 0` after EOPNOTSUPP. */
  featureOff(what: "flush" | "discard"): void;
  /** The backend broke the protocol: disable the device. */
  disable(error: BlkfrontError): void;
  /** Responses were handled: issue more. */
  kick(): void;
}

interface Shadow {
  readonly chunk: Chunk;
  /** The operation the response must carry (`indirect_op` for indirect requests). */
  readonly op: number;
  readonly nrSegments: number;
  readonly pages: GrantedPage[];
  readonly indirect: GrantedPage[];
}

const WIRE_OP: Record<"read" | "write", number> = { read: BLKIF_OP.BLKIF_OP_READ, write: BLKIF_OP.BLKIF_OP_WRITE };

/** One queue; see the file header. */
export class BlkQueue {
  readonly index: number;
  readonly ring: FrontRing<BlkifRequest, BlkifResponse>;
  channel: EventChannel | undefined;
  readonly #dev: XenbusDevice;
  readonly #host: QueueHost;
  readonly #shadow: (Shadow | undefined)[];
  /**
   * Free ids, oldest first (a FIFO: an id is reused as late as possible, so a stale duplicate
   * response is less likely to name a new request; Linux's free list is LIFO).
   */
  readonly #freeIds: number[];
  #freeHead = 0;
  #freeCount: number;
  /** Persistent grants not in use (LIFO, as Linux's grants list). */
  readonly #pool: GrantedPage[] = [];
  /** Every persistent grant of this queue, ended on release. */
  readonly #persistent = new Set<GrantedPage>();
  #dead = false;
  /** Requests produced by `issue` and not pushed yet. */
  #unpushed = false;
  /** Counters: requests pushed, notifications sent, indirect requests. */
  readonly stats = { requests: 0, notifications: 0, indirect: 0, responses: 0 };

  constructor(dev: XenbusDevice, index: number, ring: FrontRing<BlkifRequest, BlkifResponse>, host: QueueHost) {
    this.#dev = dev;
    this.index = index;
    this.ring = ring;
    this.#host = host;
    this.#shadow = new Array<Shadow | undefined>(ring.size).fill(undefined);
    this.#freeIds = Array.from({ length: ring.size }, (_, i) => i);
    this.#freeCount = ring.size;
  }

  /** Requests that can be issued now. */
  get free(): number {
    return this.#dead ? 0 : Math.min(this.#freeCount, this.ring.freeRequests);
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.ring.size - this.#freeCount;
  }

  /** Persistent grants held (in use or pooled). */
  get persistentGrants(): number {
    return this.#persistent.size;
  }

  /**
   * Builds `c` into the next ring slot (not yet pushed). Returns false, with nothing granted,
   * when the guest has no page or grant ref left for it.
   */
  issue(c: Chunk): boolean {
    const f = this.#host.features();
    const id = this.#freeIds[this.#freeHead]!;
    const handle = this.#dev.devid & 0xffff;
    let req: BlkifRequest;
    let op: number;
    const pages: GrantedPage[] = [];
    const indirect: GrantedPage[] = [];
    let nrSegments = 0;
    try {
      if (c.op === "flush") {
        op = f.flush === "barrier" ? BLKIF_OP.BLKIF_OP_WRITE_BARRIER : BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE;
        req = { kind: "rw", operation: op as 2 | 3, nr_segments: 0, handle, id, sector_number: 0, seg: [] };
      } else if (c.op === "discard") {
        op = BLKIF_OP.BLKIF_OP_DISCARD;
        req = { kind: "discard", operation: BLKIF_OP.BLKIF_OP_DISCARD, flag: c.secure ? BLKIF_DISCARD_SECURE : 0, handle, id, sector_number: c.sector, nr_sectors: c.nsect };
      } else {
        op = WIRE_OP[c.op];
        nrSegments = Math.ceil(c.nsect / SECTS_PER_PAGE);
        const seg: BlkifSegment[] = [];
        for (let i = 0; i < nrSegments; i++) {
          const bytes = Math.min(PAGE, c.data!.length - i * PAGE);
          const g = this.#dataPage(c.op, f.persistent, bytes);
          pages.push(g);
          if (c.op === "write") g.page.write(0, bytes === c.data!.length ? c.data! : c.data!.subarray(i * PAGE, i * PAGE + bytes));
          seg.push({ gref: g.ref, first_sect: 0, last_sect: bytes / SECT - 1 });
        }
        if (nrSegments <= 11) {
          req = { kind: "rw", operation: op as 0 | 1, nr_segments: nrSegments, handle, id, sector_number: c.sector, seg };
        } else {
          for (const bytes of encodeIndirectSegments(seg)) {
            const g = f.persistent ? this.#pooled(0) : this.#dev.env.grants.grantPage(this.#dev.otherendId, { readonly: true });
            indirect.push(g);
            g.page.write(0, bytes);
          }
          req = { kind: "indirect", operation: BLKIF_OP.BLKIF_OP_INDIRECT, indirect_op: op, nr_segments: nrSegments, handle, id, sector_number: c.sector, indirect_grefs: indirect.map((g) => g.ref) };
          this.stats.indirect++;
        }
      }
    } catch (e) {
      this.#giveBack([...pages, ...indirect], f.persistent);
      if (e instanceof Error && "code" in e && (e.code === "ENOPAGES" || e.code === "ENOGRANTREFS")) return false;
      throw e;
    }
    this.ring.produceRequest(req);
    this.#freeHead = (this.#freeHead + 1) % this.#freeIds.length;
    this.#freeCount--;
    this.#shadow[id] = { chunk: c, op, nrSegments, pages, indirect };
    this.#unpushed = true;
    this.stats.requests++;
    return true;
  }

  /** `flush_requests`: publishes what `issue` wrote and notifies if the backend asked. */
  push(): void {
    if (this.#dead || !this.#unpushed) return;
    this.#unpushed = false;
    if (this.ring.pushRequestsAndCheckNotify()) {
      this.stats.notifications++;
      this.channel?.notify();
    }
  }

  /** `blkif_interrupt`. */
  interrupt(): void {
    if (this.#dead) return;
    try {
      do {
        for (let rsp = this.ring.consumeResponse(); rsp !== undefined; rsp = this.ring.consumeResponse()) this.#response(rsp);
      } while (this.ring.finalCheckForResponses());
    } catch (e) {
      if (e instanceof RingProtocolError) {
        this.#host.disable(new BlkfrontError("ring-protocol", this.#host.device, `queue ${this.index}: ${e.message}`, { cause: e }));
        return;
      }
      if (e instanceof BlkfrontError) {
        this.#host.disable(e);
        return;
      }
      throw e;
    }
    this.#host.kick();
  }

  #response(rsp: BlkifResponse): void {
    this.stats.responses++;
    const dev = this.#host.device;
    const id = rsp.id;
    if (typeof id !== "number" || id >= this.ring.size) throw new BlkfrontError("bad-response-id", dev, `queue ${this.index}: response has incorrect id (${id})`);
    const s = this.#shadow[id];
    if (s === undefined) throw new BlkfrontError("response-not-pending", dev, `queue ${this.index}: response references no pending request (id ${id})`);
    if (rsp.operation !== s.op) throw new BlkfrontError("wrong-operation", dev, `queue ${this.index}: response has wrong operation (${rsp.operation} instead of ${s.op})`);
    this.#shadow[id] = undefined;
    this.#freeIds[(this.#freeHead + this.#freeCount) % this.#freeIds.length] = id;
    this.#freeCount++;
    const c = s.chunk;
    const f = this.#host.features();
    // blkif_completion: copy a read out of the bounce pages, then end or recycle the grants.
    if (c.op === "read" && rsp.status === BLKIF_RSP.BLKIF_RSP_OKAY) {
      for (let i = 0; i < s.pages.length; i++) {
        const off = i * PAGE;
        s.pages[i]!.page.readInto(0, c.data!, off, Math.min(PAGE, c.data!.length - off));
      }
    }
    const dataStillMapped = this.#finish(s.pages, f.persistent);
    const indirectStillMapped = s.indirect.length > 0 ? this.#finish(s.indirect, f.persistent) : undefined;
    const stillMapped = dataStillMapped ?? indirectStillMapped;
    if (stillMapped !== undefined) {
      // The request is out of the shadow already, so disabling would not reach it: fail it here.
      const err = new BlkfrontError("grant-still-mapped", dev, `queue ${this.index}: backed has not unmapped grant: ${stillMapped}`);
      this.#host.complete(c, err);
      throw err;
    }
    this.#host.complete(c, this.#status(c, s, rsp.status));
  }

  /** The request's outcome from its status, turning features off as Linux's blkif_interrupt does. */
  #status(c: Chunk, s: Shadow, status: number): BlkfrontError | undefined {
    const dev = this.#host.device;
    switch (c.op) {
      case "discard":
        if (status === BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP) {
          this.#host.featureOff("discard");
          return new BlkfrontError("not-supported", dev, "blkfront: discard op failed (EOPNOTSUPP); discard is off");
        }
        return status === BLKIF_RSP.BLKIF_RSP_OKAY ? undefined : new BlkfrontError("io-error", dev, `discard failed: status ${status}`);
      case "flush": {
        if (status === BLKIF_RSP.BLKIF_RSP_OKAY) return undefined;
        // EOPNOTSUPP, or an error on an empty flush/barrier: not supported; the request succeeds
        // and flushing is turned off (feature_flush = feature_fua = 0).
        const notSupported = status === BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP || (status === BLKIF_RSP.BLKIF_RSP_ERROR && s.nrSegments === 0);
        this.#host.featureOff("flush");
        return notSupported ? undefined : new BlkfrontError("io-error", dev, `flush failed: status ${status}`);
      }
      default:
        return status === BLKIF_RSP.BLKIF_RSP_OKAY ? undefined : new BlkfrontError("io-error", dev, `Bad return from blkdev data request: ${status} (${c.op} of ${c.nsect} sectors at ${c.sector})`);
    }
  }

  /**
   * Every request in flight, taken back (`blkif_recover`'s copy of the shadow): their grants are
   * ended (deferred while the old backend maps them) and the ring is not used again.
   */
  harvest(): Chunk[] {
    const f = this.#host.features();
    this.#dead = true;
    const out: Chunk[] = [];
    for (let id = 0; id < this.#shadow.length; id++) {
      const s = this.#shadow[id];
      if (s === undefined) continue;
      this.#shadow[id] = undefined;
      this.#finish([...s.pages, ...s.indirect], f.persistent);
      out.push(s.chunk);
    }
    return out;
  }

  /** Ends the persistent grants (on disconnect). */
  release(): void {
    this.#dead = true;
    for (const g of this.#persistent) g.end();
    this.#persistent.clear();
    this.#pool.length = 0;
  }

  /** A page for a segment whose first `bytes` bytes the request overwrites (the write's data, or the backend's read). */
  #dataPage(op: "read" | "write", persistent: boolean, bytes: number): GrantedPage {
    if (!persistent) return this.#dev.env.grants.grantPage(this.#dev.otherendId, { readonly: op === "write" });
    return this.#pooled(bytes);
  }

  /**
   * A persistent grant. A reused page may hold an earlier request's data, so all of it but the
   * first `overwritten` bytes — which the request itself fills (XSA-403: only the request's data
   * or zeros) — is zeroed.
   */
  #pooled(overwritten: number): GrantedPage {
    const g = this.#pool.pop();
    if (g !== undefined) {
      if (overwritten < PAGE) g.page.fill(0, overwritten);
      return g;
    }
    const fresh = this.#dev.env.grants.grantPage(this.#dev.otherendId);
    this.#persistent.add(fresh);
    return fresh;
  }

  /** Ends non-persistent grants (returns the first ref still mapped) or pools persistent ones. */
  #finish(grants: readonly GrantedPage[], persistent: boolean): number | undefined {
    let stillMapped: number | undefined;
    for (const g of grants) {
      if (this.#persistent.has(g)) {
        this.#pool.push(g);
      } else if (g.end() === "deferred" && stillMapped === undefined) {
        stillMapped = g.ref;
      }
    }
    void persistent;
    return stillMapped;
  }

  #giveBack(grants: readonly GrantedPage[], persistent: boolean): void {
    this.#finish(grants, persistent);
  }
}
