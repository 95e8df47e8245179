/**
 * The block device blkfront gives a JavaScript program: sector reads and writes, flush,
 * discard, its size and sector size. It outlives one connection to the backend: requests in
 * flight when the backend restarts are taken back and re-issued on the next connection
 * (Linux's `blkif_recover`), split again if the new backend takes fewer segments; a request is
 * settled exactly once.
 *
 * Units: the sector methods count logical sectors of `sectorSize` bytes; the wire counts
 * 512-byte sectors (`io/blkif.h`, as Linux does). Every request is checked against the disk
 * (range, read-only, alignment) before anything reaches the ring. Large requests are split
 * into ring requests of at most 11 segments, or `maxIndirectSegments` with indirect requests;
 * as many as the rings hold are kept in flight, spread over the queues.
 *
 * A caller's buffer must not be changed or reused until its promise settles (as `fs.write`).
 * A `Uint8Array` is copied through blkfront's bounce pages; {@link BlkfrontFrames} from
 * `allocFrames` are granted to the backend themselves, so the data moves once (zero-copy).
 */
import { EventEmitter } from "node:events";
import type { Readable, Writable } from "node:stream";
import type { GuestPageAllocator } from "@pvkit/guest-sdk";
import { BlkfrontError } from "./blkfront-error.js";
import { BlkfrontFrames, newBlkfrontFrames } from "./blkfront-frames.js";
import {
  type BlockStreamOptions,
  type ReadResult,
  type WriteResult,
  iterateBytes,
  readBytes,
  readStream,
  writeBytes,
  writeStream,
} from "./byte-io.js";
import type { BlkQueue, Bio, Chunk, ChunkOp, QueueFeatures, QueueHost } from "./blk-queue.js";
import type { BlkfrontDiskInfo, BlkfrontFlushMode } from "./negotiate.js";
import type { BlkfrontTransport } from "./negotiate.js";

/** Where the disk stands. */
export type BlkfrontDiskState = "connected" | "recovering" | "disabled" | "removed";

/** The features in use now (EOPNOTSUPP may have turned some off since connecting). */
export interface BlkfrontFeatures {
  readonly flush: BlkfrontFlushMode;
  readonly fua: boolean;
  readonly discard: BlkfrontDiskInfo["discard"];
  readonly persistent: boolean;
  /** Segments per indirect request, 0 for none. */
  readonly maxIndirectSegments: number;
  /** Segments per request: `maxIndirectSegments`, or 11. */
  readonly maxSegments: number;
  readonly ringPageOrder: number;
  readonly queues: number;
}

/** Events: `resize` (old and new size in bytes), `disabled` (the BlkfrontError), `recovered` (chunks re-issued). */
export interface BlkfrontDiskEvents {
  resize: [oldBytes: number, newBytes: number];
  disabled: [error: BlkfrontError];
  recovered: [reissued: number];
}

/**
 * One element of `readv` / `writev`: `buffer.length / sectorSize` logical sectors at `sector`
 * (`buffer.byteLength / sectorSize` for frames).
 */
export interface BlockIo {
  /** First logical sector. */
  readonly sector: number;
  /**
   * A whole number of logical sectors: the destination of a read, the source of a write. A
   * `Uint8Array` goes through bounce pages; frames of this disk's `allocFrames` are used in place.
   */
  readonly buffer: Uint8Array | BlkfrontFrames;
}

/** Options of a discard. */
export interface DiscardOptions {
  /** BLKIF_DISCARD_SECURE; needs `discard-secure`. */
  readonly secure?: boolean;
}

const SECT = 512;

let makeDisk: (
  nodename: string,
  devid: number,
  info: BlkfrontDiskInfo,
  transport: BlkfrontTransport,
  allocator: GuestPageAllocator,
) => BlkfrontDisk;

/** @internal The driver makes the disk at the first connect (the constructor is private). */
export function newBlkfrontDisk(
  nodename: string,
  devid: number,
  info: BlkfrontDiskInfo,
  transport: BlkfrontTransport,
  allocator: GuestPageAllocator,
): BlkfrontDisk {
  return makeDisk(nodename, devid, info, transport, allocator);
}

/** A vbd as a block device; see the file header. Made by `Blkfront`. */
export class BlkfrontDisk extends EventEmitter<BlkfrontDiskEvents> {
  /** The frontend directory, "device/vbd/51712". */
  readonly nodename: string;
  readonly devid: number;
  #info: BlkfrontDiskInfo;
  #transport: BlkfrontTransport;
  #flush: BlkfrontFlushMode;
  #fua: boolean;
  #discard: BlkfrontDiskInfo["discard"];
  #queues: BlkQueue[] = [];
  #rr = 0;
  #pending: Chunk[] = [];
  #state: BlkfrontDiskState = "recovering";
  #error: BlkfrontError | undefined;
  #seq = 0;
  #takenBack = 0;
  /** Counters over the disk's life. */
  readonly stats = { submitted: 0, reissued: 0, connections: 0, maxInFlight: 0 };
  readonly #host: QueueHost;
  /** What `#host.features()` last returned (rebuilt when a feature changes). */
  #queueFeatures: QueueFeatures | undefined;
  /** The guest's page allocator (`allocFrames`). */
  readonly #allocator: GuestPageAllocator;

  static {
    makeDisk = (nodename, devid, info, transport, allocator) =>
      new BlkfrontDisk(nodename, devid, info, transport, allocator);
  }

  /** Made by the driver at the first connect (private: the published .d.ts has no `new BlkfrontDisk()`). */
  private constructor(
    nodename: string,
    devid: number,
    info: BlkfrontDiskInfo,
    transport: BlkfrontTransport,
    allocator: GuestPageAllocator,
  ) {
    super();
    this.nodename = nodename;
    this.devid = devid;
    this.#info = info;
    this.#transport = transport;
    this.#allocator = allocator;
    this.#flush = info.flush;
    this.#fua = info.fua;
    this.#discard = info.discard;
    this.#host = {
      device: nodename,
      features: (): QueueFeatures => {
        const f = this.#queueFeatures;
        if (
          f !== undefined &&
          f.flush === this.#flush &&
          f.persistent === this.#info.persistent &&
          f.maxIndirectSegments === this.#info.maxIndirectSegments
        )
          return f;
        return (this.#queueFeatures = {
          flush: this.#flush,
          persistent: this.#info.persistent,
          maxIndirectSegments: this.#info.maxIndirectSegments,
        });
      },
      complete: (c, err) => this.#complete(c, err),
      featureOff: (what) => {
        if (what === "flush") [this.#flush, this.#fua] = ["none", false];
        else this.#discard = undefined;
      },
      disable: (err) => this.#disable(err),
      kick: () => this.#pump(),
    };
  }

  // ---- what the disk is ----------------------------------------------------------------------

  get state(): BlkfrontDiskState {
    return this.#state;
  }
  /** The error that disabled the device, if it was. */
  get error(): BlkfrontError | undefined {
    return this.#error;
  }
  /** Logical sector size in bytes (`sector-size`). */
  get sectorSize(): number {
    return this.#info.sectorSize;
  }
  /** `physical-sector-size`. */
  get physicalSectorSize(): number {
    return this.#info.physicalSectorSize;
  }
  /** Size in bytes (`sectors` × 512). */
  get size(): number {
    return this.#info.sectors * SECT;
  }
  /** Size in logical sectors. */
  get sectorCount(): number {
    return Math.floor(this.size / this.#info.sectorSize);
  }
  get readOnly(): boolean {
    return this.#info.readOnly;
  }
  get cdrom(): boolean {
    return this.#info.cdrom;
  }
  get removable(): boolean {
    return this.#info.removable;
  }
  /** The backend's `info` bits. */
  get info(): number {
    return this.#info.info;
  }
  get features(): BlkfrontFeatures {
    const ind = this.#info.maxIndirectSegments;
    return {
      flush: this.#flush,
      fua: this.#fua,
      discard: this.#discard,
      persistent: this.#info.persistent,
      maxIndirectSegments: ind,
      maxSegments: ind > 0 ? ind : 11,
      ringPageOrder: this.#transport.order,
      queues: this.#transport.queues,
    };
  }
  /** The queues of the current connection (for tests and statistics). */
  get queues(): readonly BlkQueue[] {
    return this.#queues;
  }
  /** Ring requests in flight now. */
  get inFlight(): number {
    return this.#queues.reduce((n, q) => n + q.inFlight, 0);
  }

  // ---- sector I/O ----------------------------------------------------------------------------

  /** Reads `count` logical sectors from `sector`. @throws BlkfrontError (rejects). */
  async readSectors(sector: number, count: number): Promise<Uint8Array> {
    const buf = new Uint8Array(count * this.sectorSize);
    await this.readSectorsInto(sector, buf);
    return buf;
  }

  /**
   * Reads `buf.length / sectorSize` logical sectors from `sector` into `buf`: through bounce
   * pages for a `Uint8Array`, straight into the frames (`buf.byteLength` bytes) for frames of
   * this disk's `allocFrames`. @throws BlkfrontError (rejects).
   */
  readSectorsInto(sector: number, buf: Uint8Array | BlkfrontFrames): Promise<void> {
    return this.#rw("read", sector, buf);
  }

  /**
   * Writes `data` (a whole number of logical sectors) at `sector`: copied through bounce pages
   * for a `Uint8Array`, granted in place for frames of this disk's `allocFrames`.
   * @throws BlkfrontError (rejects).
   */
  writeSectors(sector: number, data: Uint8Array | BlkfrontFrames): Promise<void> {
    return this.#rw("write", sector, data);
  }

  /**
   * `count` zeroed guest frames (4 KiB pages of the guest's allocator, XSA-403) for zero-copy
   * I/O: pass them as the buffer of `readSectorsInto`, `writeSectors`, `readv`, `writev`, and
   * `release()` them when done (see {@link BlkfrontFrames}). They stay usable across backend
   * restarts; they are granted to whichever backend serves the disk when a request names them.
   * @throws RangeError unless `count` is a positive integer; GrantError ERR_NO_PAGES when the
   *   allocator has too few pages; BlkfrontError `disconnected` once the device was removed.
   */
  allocFrames(count: number): BlkfrontFrames {
    if (!Number.isSafeInteger(count) || count < 1)
      throw new RangeError(`allocFrames(${count}): the count must be a positive integer`);
    const refused = this.#state === "removed" ? this.#refuse("allocFrames") : undefined;
    if (refused !== undefined) throw refused;
    return newBlkfrontFrames(this, this.#allocator, count, (f) => {
      for (const q of this.#queues) q.endFrames(f);
    });
  }

  /**
   * Makes writes completed before the call durable: BLKIF_OP_FLUSH_DISKCACHE, or
   * BLKIF_OP_WRITE_BARRIER with only `feature-barrier`; with neither (an old backend that writes
   * synchronously, or one that answered EOPNOTSUPP) it resolves at once, as Linux does.
   */
  flush(): Promise<void> {
    const early = this.#refuse("flush");
    if (early) return Promise.reject(early);
    if (this.#flush === "none") return Promise.resolve();
    return this.#submit("flush", 0, 0, undefined, false);
  }

  /**
   * Discards `count` logical sectors from `sector` (BLKIF_OP_DISCARD).
   * @throws BlkfrontError not-supported without `feature-discard` (or after EOPNOTSUPP turned it
   *   off), or for `secure` without `discard-secure`; out-of-range; read-only.
   */
  discard(sector: number, count: number, opts: DiscardOptions = {}): Promise<void> {
    const err = this.#refuse("discard") ?? this.#check(sector, count, true);
    if (err) return Promise.reject(err);
    if (this.#discard === undefined)
      return Promise.reject(
        new BlkfrontError(
          "not-supported",
          this.nodename,
          "the backend does not offer feature-discard",
        ),
      );
    if (opts.secure && !this.#discard.secure)
      return Promise.reject(
        new BlkfrontError(
          "not-supported",
          this.nodename,
          "the backend does not offer discard-secure",
        ),
      );
    if (count === 0) return Promise.resolve();
    const k = this.sectorSize / SECT;
    return this.#submit("discard", sector * k, count * k, undefined, opts.secure ?? false);
  }

  // ---- byte I/O and streams (byte-io.ts) -----------------------------------------------------

  /** `fs.FileHandle.read`: up to `length` bytes at byte `position` into `buffer[offset..]`; short at the end. */
  read<B extends Uint8Array>(
    buffer: B,
    offset = 0,
    length = buffer.length - offset,
    position = 0,
  ): Promise<ReadResult<B>> {
    return readBytes(this, buffer, offset, length, position);
  }

  /** `fs.FileHandle.write`: `length` bytes of `buffer[offset..]` at byte `position` (read-modify-write when unaligned). */
  write<B extends Uint8Array>(
    buffer: B,
    offset = 0,
    length = buffer.length - offset,
    position = 0,
  ): Promise<WriteResult<B>> {
    return writeBytes(this, buffer, offset, length, position);
  }

  /** The bytes from `start` to `end` (inclusive) as a Readable. */
  createReadStream(opts: BlockStreamOptions = {}): Readable {
    return readStream(this, opts);
  }

  /** A Writable writing from byte `start` on. */
  createWriteStream(opts: { readonly start?: number } = {}): Writable {
    return writeStream(this, opts);
  }

  /** The bytes from `start` to `end` (inclusive) in chunks. */
  chunks(opts: BlockStreamOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    return iterateBytes(this, opts);
  }

  /** The whole disk in 64 KiB chunks. */
  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    return iterateBytes(this);
  }

  // ---- vectored I/O --------------------------------------------------------------------------

  /**
   * Reads every `ios[i].buffer.length / sectorSize` logical sectors from `ios[i].sector` into
   * `ios[i].buffer`, as one submission: all are checked first (nothing is queued if one is
   * invalid), then queued together, as many issued at once as the rings hold and the rest as
   * slots free up, each ring pushed (and the backend notified, if it asked) once per batch
   * (Linux blk-mq's `commit_rqs`). Resolves when every read is done; rejects with the first
   * failure (the others are still carried out). The buffers must not be touched until then.
   * @throws BlkfrontError (rejects), as `readSectorsInto` for the first bad element.
   */
  readv(ios: readonly BlockIo[]): Promise<void> {
    return this.#rwv("read", ios);
  }

  /** The write counterpart of `readv`: every `ios[i].buffer` written at `ios[i].sector`. */
  writev(ios: readonly BlockIo[]): Promise<void> {
    return this.#rwv("write", ios);
  }

  #rwv(op: "read" | "write", ios: readonly BlockIo[]): Promise<void> {
    const ss = this.sectorSize;
    const k = ss / SECT;
    let sectors = 0;
    for (let i = 0; i < ios.length; i++) {
      const { sector, buffer } = ios[i]!;
      const err =
        this.#argument(op, buffer) ??
        this.#refuse(op) ??
        this.#check(sector, bytesOf(buffer) / ss, op === "write");
      if (err) return Promise.reject(err);
      sectors += bytesOf(buffer);
    }
    if (sectors === 0) return Promise.resolve();
    this.stats.submitted++;
    return new Promise<void>((resolve, reject) => {
      const bio: Bio = { pending: 0, settled: false, resolve, reject };
      for (let i = 0; i < ios.length; i++) {
        const { sector, buffer } = ios[i]!;
        const bytes = bytesOf(buffer);
        if (bytes > 0) this.#queueRw(op, sector * k, (bytes / ss) * k, buffer, bio);
      }
      this.#pump();
    });
  }

  /** A buffer that is not a whole number of sectors, or frames that are not this disk's live ones. */
  #argument(op: string, buf: Uint8Array | BlkfrontFrames): BlkfrontError | undefined {
    const ss = this.sectorSize;
    if (buf instanceof Uint8Array) {
      if (buf.length % ss === 0) return undefined;
    } else if (buf instanceof BlkfrontFrames) {
      if (buf.owner === this && !buf.released) return undefined;
      return new BlkfrontError(
        "invalid-argument",
        this.nodename,
        buf.released
          ? `a ${op} into released frames`
          : `a ${op} into frames of another disk (${(buf.owner as BlkfrontDisk).nodename})`,
      );
    }
    return new BlkfrontError(
      "invalid-argument",
      this.nodename,
      `a ${op} must be a whole number of ${ss}-byte sectors, got ${(buf as Uint8Array | undefined)?.length} bytes`,
    );
  }

  #rw(op: "read" | "write", sector: number, buf: Uint8Array | BlkfrontFrames): Promise<void> {
    const ss = this.sectorSize;
    const err = this.#argument(op, buf) ?? this.#refuse(op);
    if (err) return Promise.reject(err);
    const frames = buf instanceof BlkfrontFrames ? buf : undefined;
    const count = (frames !== undefined ? frames.byteLength : (buf as Uint8Array).length) / ss;
    const range = this.#check(sector, count, op === "write");
    if (range) return Promise.reject(range);
    if (count === 0) return Promise.resolve();
    const k = ss / SECT;
    const nsect = count * k;
    const ind = this.#info.maxIndirectSegments;
    if (nsect > (ind > 0 ? ind : 11) * 8 || this.#pending.length > 0 || this.#state !== "connected")
      return this.#submit(op, sector * k, nsect, buf, false);
    // One chunk with nothing queued before it: straight onto a queue with room.
    this.stats.submitted++;
    return new Promise<void>((resolve, reject) => {
      const c: Chunk = {
        seq: this.#seq++,
        op,
        sector: sector * k,
        nsect,
        data: frames === undefined ? (buf as Uint8Array) : undefined,
        frames,
        frameAt: 0,
        secure: false,
        bio: { pending: 1, settled: false, resolve, reject },
      };
      const q = this.#roomy();
      if (q !== undefined && q.issue(c)) {
        q.push();
        const n = this.#queues.length === 1 ? q.inFlight : this.inFlight;
        if (n > this.stats.maxInFlight) this.stats.maxInFlight = n;
        return;
      }
      this.#pending.push(c);
      this.#pump();
    });
  }

  /** The next queue with a free slot, round robin (`#pump`'s choice), or undefined. */
  #roomy(): BlkQueue | undefined {
    const qs = this.#queues;
    for (let k = 0; k < qs.length; k++) {
      const cand = qs[(this.#rr + k) % qs.length]!;
      if (cand.free > 0) {
        this.#rr = (this.#rr + k + 1) % qs.length;
        return cand;
      }
    }
    return undefined;
  }

  /** A state that refuses new requests. */
  #refuse(op: string): BlkfrontError | undefined {
    if (this.#state === "removed")
      return new BlkfrontError("disconnected", this.nodename, `${op}: the device was removed`);
    if (this.#state === "disabled")
      return new BlkfrontError(
        "disabled",
        this.nodename,
        `${op}: the device was disabled for further use`,
        { cause: this.#error },
      );
    return undefined;
  }

  /** Range, alignment and read-only checks (before the ring). */
  #check(sector: number, count: number, writes: boolean): BlkfrontError | undefined {
    if (!Number.isSafeInteger(sector) || sector < 0 || !Number.isSafeInteger(count) || count < 0) {
      return new BlkfrontError(
        "invalid-argument",
        this.nodename,
        `sector ${sector} and count ${count} must be non-negative integers`,
      );
    }
    if (sector + count > this.sectorCount) {
      return new BlkfrontError(
        "out-of-range",
        this.nodename,
        `sectors ${sector}..${sector + count - 1} are past the end of the disk (${this.sectorCount} sectors of ${this.sectorSize} bytes)`,
      );
    }
    if (writes && this.readOnly)
      return new BlkfrontError("read-only", this.nodename, "the disk is read-only");
    return undefined;
  }

  /** Splits into chunks of at most one ring request each and queues them. */
  #submit(
    op: ChunkOp,
    sector: number,
    nsect: number,
    data: Uint8Array | BlkfrontFrames | undefined,
    secure: boolean,
  ): Promise<void> {
    this.stats.submitted++;
    return new Promise<void>((resolve, reject) => {
      const bio: Bio = { pending: 0, settled: false, resolve, reject };
      if (op === "read" || op === "write") {
        this.#queueRw(op, sector, nsect, data!, bio);
      } else {
        this.#pending.push({ seq: this.#seq++, op, sector, nsect, data: undefined, secure, bio });
        bio.pending++;
      }
      this.#pump();
    });
  }

  /**
   * Queues the chunks of one read or write of `bio` (split at the segment limit, a multiple of
   * 8 sectors: a chunk of frames starts at a frame boundary).
   */
  #queueRw(
    op: "read" | "write",
    sector: number,
    nsect: number,
    buf: Uint8Array | BlkfrontFrames,
    bio: Bio,
  ): void {
    const ind = this.#info.maxIndirectSegments;
    const max = (ind > 0 ? ind : 11) * 8;
    const frames = buf instanceof BlkfrontFrames ? buf : undefined;
    const data = frames === undefined ? (buf as Uint8Array) : undefined;
    if (nsect <= max) {
      this.#pending.push({
        seq: this.#seq++,
        op,
        sector,
        nsect,
        data,
        frames,
        frameAt: 0,
        secure: false,
        bio,
      });
      bio.pending++;
      return;
    }
    for (let s = 0; s < nsect; s += max) {
      const n = Math.min(max, nsect - s);
      this.#pending.push({
        seq: this.#seq++,
        op,
        sector: sector + s,
        nsect: n,
        data: data?.subarray(s * SECT, (s + n) * SECT),
        frames,
        frameAt: s / 8,
        secure: false,
        bio,
      });
      bio.pending++;
    }
  }

  /** Issues pending chunks while a queue has room (`kick_pending_request_queues`). */
  #pump(): void {
    if (this.#state !== "connected" || this.#pending.length === 0) return;
    const qs = this.#queues;
    let issued = 0;
    let i = 0;
    while (i < this.#pending.length) {
      let q: BlkQueue | undefined;
      for (let k = 0; k < qs.length; k++) {
        const cand = qs[(this.#rr + k) % qs.length]!;
        if (cand.free > 0) {
          q = cand;
          this.#rr = (this.#rr + k + 1) % qs.length;
          break;
        }
      }
      if (q === undefined) break;
      const c = this.#pending[i]!;
      if (c.bio.settled) {
        i++;
        continue;
      }
      if (!q.issue(c)) {
        if (this.inFlight === 0 && issued === 0) {
          i++;
          this.#complete(
            c,
            new BlkfrontError(
              "no-memory",
              this.nodename,
              "no free page or grant ref to bounce the request through",
            ),
          );
          continue;
        }
        break;
      }
      issued++;
      i++;
    }
    if (i === this.#pending.length) this.#pending.length = 0;
    else this.#pending.splice(0, i);
    if (issued === 0) return;
    // Each queue that got requests publishes them once (push() does nothing for the others).
    let inFlight = 0;
    for (let k = 0; k < qs.length; k++) {
      qs[k]!.push();
      inFlight += qs[k]!.inFlight;
    }
    if (inFlight > this.stats.maxInFlight) this.stats.maxInFlight = inFlight;
  }

  #complete(c: Chunk, err: BlkfrontError | undefined): void {
    const b = c.bio;
    if (b.settled) return;
    if (err !== undefined) {
      b.settled = true;
      b.reject(err);
      return;
    }
    if (--b.pending === 0) {
      b.settled = true;
      b.resolve();
    }
  }

  #disable(err: BlkfrontError): void {
    if (this.#state === "disabled" || this.#state === "removed") return;
    this.#state = "disabled";
    this.#error = err;
    const all = [...this.#queues.flatMap((q) => q.harvest()), ...this.#pending];
    this.#pending = [];
    for (const c of all) this.#complete(c, err);
    this.emit("disabled", err);
  }

  // ---- connection life (driver) --------------------------------------------------------------

  /** @internal What the queues report to. */
  queueHost(): QueueHost {
    return this.#host;
  }

  /** @internal A connection is up: use its queues, re-issue what was taken back. */
  attach(queues: BlkQueue[], info: BlkfrontDiskInfo, transport: BlkfrontTransport): void {
    const oldSize = this.size;
    this.#info = info;
    this.#transport = transport;
    this.#flush = info.flush;
    this.#fua = info.fua;
    this.#discard = info.discard;
    this.#queues = queues;
    for (const q of queues) q.setHost(this.#host);
    this.stats.connections++;
    if (this.#state === "disabled" || this.#state === "removed") return;
    this.#state = "connected";
    // blkif_recover: re-split chunks the new backend takes in fewer segments.
    const max = this.features.maxSegments * 8;
    const again: Chunk[] = [];
    for (const c of this.#pending) {
      if ((c.op !== "read" && c.op !== "write") || c.nsect <= max) {
        again.push(c);
        continue;
      }
      c.bio.pending--;
      for (let s = 0; s < c.nsect; s += max) {
        const n = Math.min(max, c.nsect - s);
        again.push({
          ...c,
          sector: c.sector + s,
          nsect: n,
          data: c.data?.subarray(s * SECT, (s + n) * SECT),
          frameAt: (c.frameAt ?? 0) + s / 8,
        });
        c.bio.pending++;
      }
    }
    const reissued = this.#takenBack;
    this.#takenBack = 0;
    this.#pending = again;
    if (oldSize !== this.size && this.stats.connections > 1)
      this.emit("resize", oldSize, this.size);
    this.#pump();
    if (this.stats.connections > 1) this.emit("recovered", reissued);
  }

  /** @internal The backend's `sectors` changed while connected (`blkfront_connect`, connected case). */
  resize(sectors: number): void {
    const old = this.size;
    if (sectors * SECT === old) return;
    this.#info = { ...this.#info, sectors };
    this.emit("resize", old, this.size);
  }

  /**
   * @internal The connection is going away. Requests in flight are taken back, in submission
   * order ahead of the rest; with `final` (unplugged, driver unregistered) everything is
   * rejected as `disconnected`, otherwise kept for the next connection.
   */
  detach(final: boolean): void {
    const back = this.#queues.flatMap((q) => q.harvest());
    for (const q of this.#queues) q.release();
    this.#queues = [];
    const n = back.filter((c) => !c.bio.settled).length;
    this.stats.reissued += n;
    this.#takenBack += n;
    this.#pending = [...back, ...this.#pending].sort((a, b) => a.seq - b.seq);
    if (final) this.remove();
    else if (this.#state === "connected") this.#state = "recovering";
  }

  /** @internal The device is gone: reject everything. */
  remove(): void {
    if (this.#state === "removed") return;
    this.#state = "removed";
    const err = new BlkfrontError(
      "disconnected",
      this.nodename,
      "the device was removed with the request pending",
    );
    const all = this.#pending;
    this.#pending = [];
    for (const c of all) this.#complete(c, err);
  }
}

/** Bytes of a buffer: its length, or the frames' `byteLength`. */
function bytesOf(buf: Uint8Array | BlkfrontFrames): number {
  return buf instanceof BlkfrontFrames ? buf.byteLength : buf.length;
}
