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
 * A plain `Uint8Array` goes through bounce pages, never the caller's memory: each segment is one
 * page from the guest's allocator, zeroed when handed out (XSA-403), holding exactly the
 * request's bytes. Writes are granted read-only, reads writable. With persistent grants the
 * pages are granted writable once and reused; the part of a reused page outside the request is
 * zeroed first. Indirect pages hold only their segment array (the rest zero) and are granted
 * read-only.
 *
 * `BlkfrontFrames` are granted themselves, one whole frame per segment (Linux grants a bio's own
 * pages, `blkif_setup_rw_req_grant`): nothing is copied. With persistent grants each frame is
 * granted writable once per queue and its ref reused (`#frameRefs`) until the connection ends or
 * the frames are released; without, each request grants its frames (read-only for a write) and
 * its response ends those grants by the XSA-396 rule, as for bounce pages.
 */
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_RSP,
  BLKIF_DISCARD_SECURE,
  XEN_PAGE_SIZE,
} from "@pvkit/hypervisor-sim/abi";
import {
  type EntryReader,
  type EventChannel,
  type FrontRing,
  GrantError,
  type GrantedPage,
  RingProtocolError,
  type XenbusDevice,
} from "@pvkit/guest-sdk";
import { ClosedError } from "@pvkit/hypervisor-sim";
import type { BlkfrontFrames } from "./blkfront-frames.js";
import { blkifWire } from "../blkif-protocol.js";
import {
  type BlkifRequest,
  BlkifRwImage,
  type BlkifSegment,
  readBlkifId,
} from "../blkif-request.js";
import type { BlkifResponse } from "../blkif-response.js";
import { encodeIndirectSegments } from "../indirect-page.js";
import { BlkfrontError } from "./blkfront-error.js";
import type { BlkfrontFlushMode } from "./negotiate.js";

/** The grants layer ran out of pages or grant refs: the request waits for a response to free some. */
function outOfGrantResources(e: unknown): boolean {
  return e instanceof GrantError && (e.code === "ERR_NO_PAGES" || e.code === "ERR_NO_GRANT_REFS");
}

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
  /**
   * `nsect * 512` bytes: the destination of a read, the source of a write, through bounce
   * pages; undefined for a flush or discard, or when `frames` holds the data.
   */
  readonly data: Uint8Array | undefined;
  /** The frames the data is read into or written from in place (zero-copy), or undefined. */
  readonly frames?: BlkfrontFrames | undefined;
  /** With `frames`: the index of the chunk's first frame (`nsect / 8` frames from there). */
  readonly frameAt?: number;
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

/** What blkfront keeps of a request in flight (Linux `struct blk_shadow`); one per id, reused. */
interface Shadow {
  /** The chunk in flight under this id, or undefined when the id is free. */
  chunk: Chunk | undefined;
  /** The operation the response must carry (`indirect_op` for indirect requests). */
  op: number;
  nrSegments: number;
  /** The data pages and the indirect pages (`issue`'s general path). */
  pages: readonly GrantedPage[];
  indirect: readonly GrantedPage[];
  /**
   * `#issueDirect`'s request: its data pages are the first `nDirect` of `direct` (an array
   * reused from one request to the next), all persistent grants; `pages` and `indirect` are
   * then empty.
   */
  readonly direct: GrantedPage[];
  nDirect: number;
  /**
   * The refs this request granted its frames with (no persistent grants): the first
   * `nFrameRefs` of an array reused from one request to the next, ended at the response.
   */
  readonly frameRefs: number[];
  nFrameRefs: number;
}

const NONE: readonly GrantedPage[] = [];

/** The frontend's ring protocol (blkfront always writes `protocol` = x86_64-abi). */
const WIRE = blkifWire("x86_64-abi");
const RSP_ID = WIRE.response.id;
const RSP_OP = WIRE.response.operation;
const RSP_STATUS = WIRE.response.status;

const WIRE_OP: Record<"read" | "write", number> = {
  read: BLKIF_OP.BLKIF_OP_READ,
  write: BLKIF_OP.BLKIF_OP_WRITE,
};

/** One queue; see the file header. */
export class BlkQueue {
  readonly index: number;
  readonly ring: FrontRing<BlkifRequest, BlkifResponse>;
  channel: EventChannel | undefined;
  readonly #dev: XenbusDevice;
  #host: QueueHost;
  readonly #shadow: Shadow[];
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
  /** The direct paths' request, built privately and written into the slot at once. */
  readonly #image = new BlkifRwImage(WIRE);
  /** With persistent grants: the ref each frame (by GFN) is granted with on this queue. */
  readonly #frameRefs = new Map<number, number>();
  #dead = false;
  /** Requests produced by `issue` and not pushed yet. */
  #unpushed = false;
  /** Counters: requests pushed, notifications sent, indirect requests. */
  readonly stats = { requests: 0, notifications: 0, indirect: 0, responses: 0 };

  constructor(
    dev: XenbusDevice,
    index: number,
    ring: FrontRing<BlkifRequest, BlkifResponse>,
    host: QueueHost,
  ) {
    this.#dev = dev;
    this.index = index;
    this.ring = ring;
    this.#host = host;
    this.#shadow = Array.from(
      { length: ring.size },
      (): Shadow => ({
        chunk: undefined,
        op: 0,
        nrSegments: 0,
        pages: NONE,
        indirect: NONE,
        direct: [],
        nDirect: 0,
        frameRefs: [],
        nFrameRefs: 0,
      }),
    );
    this.#freeIds = Array.from({ length: ring.size }, (_, i) => i);
    this.#freeCount = ring.size;
  }

  /**
   * @internal The disk's own host, once it exists (the driver's host before then finds the disk
   * by devid on every call).
   */
  setHost(host: QueueHost): void {
    this.#host = host;
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
    if (
      f.persistent &&
      (c.op === "read" || c.op === "write") &&
      c.nsect <= BLKIF_MAX_SEGMENTS_PER_REQUEST * SECTS_PER_PAGE
    )
      return c.frames !== undefined ? this.#issueFrames(c, c.frames) : this.#issueDirect(c);
    const id = this.#freeIds[this.#freeHead]!;
    const s = this.#shadow[id]!;
    const handle = this.#dev.devid & 0xffff;
    let req: BlkifRequest;
    let op: number;
    const pages: GrantedPage[] = [];
    const indirect: GrantedPage[] = [];
    let nrSegments = 0;
    s.nFrameRefs = 0;
    try {
      if (c.op === "flush") {
        op =
          f.flush === "barrier"
            ? BLKIF_OP.BLKIF_OP_WRITE_BARRIER
            : BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE;
        req = {
          kind: "rw",
          operation: op as 2 | 3,
          nr_segments: 0,
          handle,
          id,
          sector_number: 0,
          seg: [],
        };
      } else if (c.op === "discard") {
        op = BLKIF_OP.BLKIF_OP_DISCARD;
        req = {
          kind: "discard",
          operation: BLKIF_OP.BLKIF_OP_DISCARD,
          flag: c.secure ? BLKIF_DISCARD_SECURE : 0,
          handle,
          id,
          sector_number: c.sector,
          nr_sectors: c.nsect,
        };
      } else {
        op = WIRE_OP[c.op];
        nrSegments = Math.ceil(c.nsect / SECTS_PER_PAGE);
        const seg: BlkifSegment[] = [];
        for (let i = 0; c.frames !== undefined && i < nrSegments; i++) {
          // The frame itself, whole (a frames chunk is a whole number of frames).
          const gref = this.#frameGrant(c, c.frames, i, f.persistent, s);
          seg.push({ gref, first_sect: 0, last_sect: SECTS_PER_PAGE - 1 });
        }
        for (let i = 0; c.frames === undefined && i < nrSegments; i++) {
          const bytes = Math.min(PAGE, c.data!.length - i * PAGE);
          const g = this.#dataPage(c.op, f.persistent, bytes);
          pages.push(g);
          if (c.op === "write")
            g.page.write(
              0,
              bytes === c.data!.length ? c.data! : c.data!.subarray(i * PAGE, i * PAGE + bytes),
            );
          seg.push({ gref: g.ref, first_sect: 0, last_sect: bytes / SECT - 1 });
        }
        if (nrSegments <= 11) {
          req = {
            kind: "rw",
            operation: op as 0 | 1,
            nr_segments: nrSegments,
            handle,
            id,
            sector_number: c.sector,
            seg,
          };
        } else {
          for (const bytes of encodeIndirectSegments(seg)) {
            const g = f.persistent
              ? this.#pooled(0)
              : this.#dev.env.grants.grantPage(this.#dev.otherendId, { readonly: true });
            indirect.push(g);
            g.page.write(0, bytes);
          }
          req = {
            kind: "indirect",
            operation: BLKIF_OP.BLKIF_OP_INDIRECT,
            indirect_op: op,
            nr_segments: nrSegments,
            handle,
            id,
            sector_number: c.sector,
            indirect_grefs: indirect.map((g) => g.ref),
          };
          this.stats.indirect++;
        }
      }
    } catch (e) {
      this.#giveBack([...pages, ...indirect], f.persistent);
      this.#endFrameRefs(s);
      if (outOfGrantResources(e)) return false;
      throw e;
    }
    this.ring.produceRequest(req);
    this.#freeHead = (this.#freeHead + 1) % this.#freeIds.length;
    this.#freeCount--;
    s.chunk = c;
    s.op = op;
    s.nrSegments = nrSegments;
    s.pages = pages;
    s.indirect = indirect;
    s.nDirect = 0;
    this.#unpushed = true;
    this.stats.requests++;
    return true;
  }

  /**
   * `issue` of a read or write of at most 11 segments with persistent grants (the steady state
   * of a busy disk): the pool's pages into the id's shadow, the request built privately
   * (`BlkifRwImage`) and written into the ring slot at once (`RING_GET_REQUEST`, as
   * `blkif_queue_rw_req` fills `ring_req`), the same bytes `encodeBlkifRequest` would write.
   */
  #issueDirect(c: Chunk): boolean {
    const id = this.#freeIds[this.#freeHead]!;
    const s = this.#shadow[id]!;
    const pages = s.direct;
    const data = c.data!;
    const len = data.length;
    const n = Math.ceil(c.nsect / SECTS_PER_PAGE);
    const write = c.op === "write";
    try {
      for (let i = 0; i < n; i++) {
        const bytes = Math.min(PAGE, len - i * PAGE);
        const g = this.#pooled(bytes);
        pages[i] = g;
        s.nDirect = i + 1;
        if (write)
          g.page.write(0, bytes === len ? data : data.subarray(i * PAGE, i * PAGE + bytes));
      }
    } catch (e) {
      for (let i = 0; i < s.nDirect; i++) this.#pool.push(pages[i]!);
      s.nDirect = 0;
      if (outOfGrantResources(e)) return false;
      throw e;
    }
    const op = write ? BLKIF_OP.BLKIF_OP_WRITE : BLKIF_OP.BLKIF_OP_READ;
    const img = this.#image;
    img.header(op, n, this.#dev.devid & 0xffff, id, c.sector);
    for (let i = 0; i < n; i++) {
      const bytes = Math.min(PAGE, len - i * PAGE);
      img.segment(i, pages[i]!.ref, 0, bytes / SECT - 1);
    }
    img.writeTo(this.ring.nextRequest());
    this.ring.commitRequest();
    this.#freeHead = (this.#freeHead + 1) % this.#freeIds.length;
    this.#freeCount--;
    s.chunk = c;
    s.op = op;
    s.nrSegments = n;
    s.pages = NONE;
    s.indirect = NONE;
    this.#unpushed = true;
    this.stats.requests++;
    return true;
  }

  /**
   * `#issueDirect` for a chunk of frames (persistent grants, at most 11 segments): each frame's
   * ref on this queue (granted at its first use), written straight into the ring slot; nothing
   * is copied.
   */
  #issueFrames(c: Chunk, frames: BlkfrontFrames): boolean {
    const id = this.#freeIds[this.#freeHead]!;
    const s = this.#shadow[id]!;
    const n = c.nsect >>> 3;
    const refs = s.frameRefs;
    s.nFrameRefs = 0;
    try {
      for (let i = 0; i < n; i++) refs[i] = this.#frameGrant(c, frames, i, true, s);
    } catch (e) {
      if (outOfGrantResources(e)) return false;
      throw e;
    }
    const op = c.op === "write" ? BLKIF_OP.BLKIF_OP_WRITE : BLKIF_OP.BLKIF_OP_READ;
    const img = this.#image;
    img.header(op, n, this.#dev.devid & 0xffff, id, c.sector);
    for (let i = 0; i < n; i++) img.segment(i, refs[i]!, 0, SECTS_PER_PAGE - 1);
    img.writeTo(this.ring.nextRequest());
    this.ring.commitRequest();
    this.#freeHead = (this.#freeHead + 1) % this.#freeIds.length;
    this.#freeCount--;
    s.chunk = c;
    s.op = op;
    s.nrSegments = n;
    s.pages = NONE;
    s.indirect = NONE;
    s.nDirect = 0;
    this.#unpushed = true;
    this.stats.requests++;
    return true;
  }

  /**
   * The ref of frame `i` of chunk `c`: with persistent grants the queue's lasting grant of it
   * (made now if it has none), else a grant for this request only (read-only for a write),
   * recorded in `s.frameRefs` to be ended at the response.
   * @throws GrantError ERR_NO_GRANT_REFS when the guest's grant table is full.
   */
  #frameGrant(c: Chunk, frames: BlkfrontFrames, i: number, persistent: boolean, s: Shadow): number {
    const gfn = frames.gfns[(c.frameAt ?? 0) + i]!;
    const grants = this.#dev.env.grants;
    if (persistent) {
      const ref = this.#frameRefs.get(gfn);
      if (ref !== undefined) return ref;
      const fresh = grants.grantAccess(this.#dev.otherendId, gfn);
      this.#frameRefs.set(gfn, fresh);
      return fresh;
    }
    const ref = grants.grantAccess(this.#dev.otherendId, gfn, { readonly: c.op === "write" });
    s.frameRefs[s.nFrameRefs++] = ref;
    return ref;
  }

  /**
   * Ends the per-request frame grants of `s` (XSA-396: deferred while the backend maps one);
   * returns the first ref still mapped.
   */
  #endFrameRefs(s: Shadow): number | undefined {
    let stillMapped: number | undefined;
    const grants = this.#dev.env.grants;
    for (let i = 0; i < s.nFrameRefs; i++) {
      const ref = s.frameRefs[i]!;
      if (!endQuietly(grants, ref) && stillMapped === undefined) stillMapped = ref;
    }
    s.nFrameRefs = 0;
    return stillMapped;
  }

  /**
   * @internal Ends this queue's lasting grants of `frames` (they are being released): deferred
   * while the backend still maps one (XSA-396), its page then quarantined by the allocator.
   */
  endFrames(frames: BlkfrontFrames): void {
    if (this.#frameRefs.size === 0) return;
    const grants = this.#dev.env.grants;
    for (const gfn of frames.gfns) {
      const ref = this.#frameRefs.get(gfn);
      if (ref === undefined) continue;
      this.#frameRefs.delete(gfn);
      endQuietly(grants, ref);
    }
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
        for (let e = this.ring.copyResponse(); e !== undefined; e = this.ring.copyResponse())
          this.#response(e);
      } while (this.ring.finalCheckForResponses());
    } catch (e) {
      if (e instanceof RingProtocolError) {
        this.#host.disable(
          new BlkfrontError(
            "ring-protocol",
            this.#host.device,
            `queue ${this.index}: ${e.message}`,
            { cause: e },
          ),
        );
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

  /** One response, read from the ring's private copy `e` of its entry (RING_COPY_RESPONSE). */
  #response(e: EntryReader): void {
    this.stats.responses++;
    const dev = this.#host.device;
    const lo = e.getU32(RSP_ID);
    const hi = e.getU32(RSP_ID + 4);
    if (hi !== 0 || lo >= this.ring.size)
      throw new BlkfrontError(
        "bad-response-id",
        dev,
        `queue ${this.index}: response has incorrect id (${readBlkifId(e, RSP_ID)})`,
      );
    const id = lo;
    const operation = e.getU8(RSP_OP);
    const status = e.getS16(RSP_STATUS);
    const s = this.#shadow[id]!;
    const c = s.chunk;
    if (c === undefined)
      throw new BlkfrontError(
        "response-not-pending",
        dev,
        `queue ${this.index}: response references no pending request (id ${id})`,
      );
    if (operation !== s.op)
      throw new BlkfrontError(
        "wrong-operation",
        dev,
        `queue ${this.index}: response has wrong operation (${operation} instead of ${s.op})`,
      );
    s.chunk = undefined;
    this.#freeIds[(this.#freeHead + this.#freeCount) % this.#freeIds.length] = id;
    this.#freeCount++;
    const nDirect = s.nDirect;
    const pages = nDirect > 0 ? s.direct : s.pages;
    const nPages = nDirect > 0 ? nDirect : pages.length;
    // blkif_completion: copy a read out of the bounce pages (frames were read in place), then
    // end or recycle the grants.
    if (c.op === "read" && status === BLKIF_RSP.BLKIF_RSP_OKAY && c.frames === undefined) {
      const data = c.data!;
      for (let i = 0; i < nPages; i++) {
        const off = i * PAGE;
        pages[i]!.page.readInto(0, data, off, Math.min(PAGE, data.length - off));
      }
    }
    if (nDirect > 0) {
      for (let i = 0; i < nDirect; i++) this.#pool.push(pages[i]!);
      s.nDirect = 0;
    } else {
      const f = this.#host.features();
      const dataStillMapped = this.#finish(pages, f.persistent);
      const indirectStillMapped =
        s.indirect.length > 0 ? this.#finish(s.indirect, f.persistent) : undefined;
      const framesStillMapped = s.nFrameRefs > 0 ? this.#endFrameRefs(s) : undefined;
      s.pages = NONE;
      s.indirect = NONE;
      const stillMapped = dataStillMapped ?? indirectStillMapped ?? framesStillMapped;
      if (stillMapped !== undefined) {
        // The request is out of the shadow already, so disabling would not reach it: fail it here.
        const err = new BlkfrontError(
          "grant-still-mapped",
          dev,
          `queue ${this.index}: backed has not unmapped grant: ${stillMapped}`,
        );
        this.#host.complete(c, err);
        throw err;
      }
    }
    this.#host.complete(
      c,
      status === BLKIF_RSP.BLKIF_RSP_OKAY && (c.op === "read" || c.op === "write")
        ? undefined
        : this.#status(c, s, status),
    );
  }

  /** The request's outcome from its status, turning features off as Linux's blkif_interrupt does. */
  #status(c: Chunk, s: Shadow, status: number): BlkfrontError | undefined {
    const dev = this.#host.device;
    switch (c.op) {
      case "discard":
        if (status === BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP) {
          this.#host.featureOff("discard");
          return new BlkfrontError(
            "not-supported",
            dev,
            "blkfront: discard op failed (EOPNOTSUPP); discard is off",
          );
        }
        return status === BLKIF_RSP.BLKIF_RSP_OKAY
          ? undefined
          : new BlkfrontError("io-error", dev, `discard failed: status ${status}`);
      case "flush": {
        if (status === BLKIF_RSP.BLKIF_RSP_OKAY) return undefined;
        // EOPNOTSUPP, or an error on an empty flush/barrier: not supported; the request succeeds
        // and flushing is turned off (feature_flush = feature_fua = 0).
        const notSupported =
          status === BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP ||
          (status === BLKIF_RSP.BLKIF_RSP_ERROR && s.nrSegments === 0);
        this.#host.featureOff("flush");
        return notSupported
          ? undefined
          : new BlkfrontError("io-error", dev, `flush failed: status ${status}`);
      }
      default:
        return status === BLKIF_RSP.BLKIF_RSP_OKAY
          ? undefined
          : new BlkfrontError(
              "io-error",
              dev,
              `Bad return from blkdev data request: ${status} (${c.op} of ${c.nsect} sectors at ${c.sector})`,
            );
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
      const s = this.#shadow[id]!;
      const c = s.chunk;
      if (c === undefined) continue;
      s.chunk = undefined;
      this.#finish([...s.direct.slice(0, s.nDirect), ...s.pages, ...s.indirect], f.persistent);
      this.#endFrameRefs(s);
      s.nDirect = 0;
      s.pages = NONE;
      s.indirect = NONE;
      out.push(c);
    }
    return out;
  }

  /** Ends the persistent grants, bounce pages' and frames' (on disconnect). */
  release(): void {
    this.#dead = true;
    for (const g of this.#persistent) g.end();
    this.#persistent.clear();
    this.#pool.length = 0;
    const grants = this.#dev.env.grants;
    for (const ref of this.#frameRefs.values()) endQuietly(grants, ref);
    this.#frameRefs.clear();
  }

  /** A page for a segment whose first `bytes` bytes the request overwrites (the write's data, or the backend's read). */
  #dataPage(op: "read" | "write", persistent: boolean, bytes: number): GrantedPage {
    if (!persistent)
      return this.#dev.env.grants.grantPage(this.#dev.otherendId, { readonly: op === "write" });
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

/**
 * Ends a frame's grant; false when it is deferred because the backend still maps it (XSA-396).
 * A grant client closed meanwhile has ended (or given up) every grant already.
 */
function endQuietly(grants: XenbusDevice["env"]["grants"], ref: number): boolean {
  try {
    return grants.endAccess(ref);
  } catch (e) {
    if (!(e instanceof ClosedError)) throw e;
    return !grants.isGranted(ref);
  }
}
