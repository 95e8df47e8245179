/**
 * Requests of `io/blkif.h` as TypeScript values, and their encoding into one ring entry of
 * either protocol (see blkif-protocol.ts for the offsets).
 *
 * A value describes what is on the wire, valid or not: `decodeBlkifRequest` accepts any bytes
 * (it never throws on the contents of an entry) and `validateBlkifRequest` (blkif-validate.ts)
 * says what is wrong with them. So a backend answers every request, and a test can build a
 * hostile one through the same encoder.
 *
 * ```
 * operation      kind        layout
 * 0 READ         "rw"        struct blkif_request          seg[] = the first min(nr_segments, 11)
 * 1 WRITE        "rw"
 * 2 BARRIER      "rw"
 * 3 FLUSH        "rw"
 * 5 DISCARD      "discard"   struct blkif_request_discard
 * 6 INDIRECT     "indirect"  struct blkif_request_indirect indirect_grefs[] = the first
 *                                                          min(8, ceil(nr_segments / 512))
 * 4, 7..255      "other"     only operation and id         (Linux: dispatch_other_io)
 * ```
 *
 * This mirrors Linux blkback's private copy (`blkif_get_x86_{32,64}_req`), which copies no more
 * than 11 segments and no more indirect grefs than `nr_segments` needs.
 */
import {
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_REQUEST_SEGMENT_SIZE,
  SEGS_PER_INDIRECT_FRAME,
} from "@pvkit/hypervisor-sim/abi";
import type { EntryReader, EntryWriter } from "@pvkit/guest-sdk";
import type { BlkifWire } from "./blkif-protocol.js";

/**
 * The frontend's private `id` (u64), echoed in the response: a number below 2^53, a bigint from
 * 2^53 up (Mini-OS, for one, puts pointers there), so every u64 survives the round trip.
 */
export type BlkifId = number | bigint;

/** `struct blkif_request_segment`: sectors `first_sect..last_sect` (inclusive, 512 bytes each) of the frame `gref`. */
export interface BlkifSegment {
  readonly gref: number;
  readonly first_sect: number;
  readonly last_sect: number;
}

/** Operations that use `struct blkif_request`. */
export type BlkifRwOperation =
  | typeof BLKIF_OP.BLKIF_OP_READ
  | typeof BLKIF_OP.BLKIF_OP_WRITE
  | typeof BLKIF_OP.BLKIF_OP_WRITE_BARRIER
  | typeof BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE;

/** Read, write, barrier or flush. Sector numbers count 512-byte sectors. */
export interface BlkifRwRequest {
  readonly kind: "rw";
  readonly operation: BlkifRwOperation;
  /** As on the wire (u8); 1..11 for a valid read or write, 0..11 for barrier and flush. */
  readonly nr_segments: number;
  /** `blkif_vdev_t`: the virtual device. */
  readonly handle: number;
  readonly id: BlkifId;
  readonly sector_number: number;
  /** The first `min(nr_segments, 11)` segments. */
  readonly seg: readonly BlkifSegment[];
}

/** `BLKIF_OP_DISCARD`: `nr_sectors` 512-byte sectors from `sector_number`. */
export interface BlkifDiscardRequest {
  readonly kind: "discard";
  readonly operation: typeof BLKIF_OP.BLKIF_OP_DISCARD;
  /** Bit `BLKIF_DISCARD_SECURE`; the other bits are ignored (as in Linux). */
  readonly flag: number;
  readonly handle: number;
  readonly id: BlkifId;
  readonly sector_number: number;
  readonly nr_sectors: number;
}

/** `BLKIF_OP_INDIRECT`: `nr_segments` segments held in the pages `indirect_grefs`, 512 per page. */
export interface BlkifIndirectRequest {
  readonly kind: "indirect";
  readonly operation: typeof BLKIF_OP.BLKIF_OP_INDIRECT;
  /** As on the wire; valid only as BLKIF_OP_READ or BLKIF_OP_WRITE. */
  readonly indirect_op: number;
  /** As on the wire (u16). */
  readonly nr_segments: number;
  readonly handle: number;
  readonly id: BlkifId;
  readonly sector_number: number;
  /** The first `min(8, ceil(nr_segments / 512))` grant refs of indirect pages. */
  readonly indirect_grefs: readonly number[];
}

/** Any other operation (4 = BLKIF_OP_RESERVED_1, or 7..255): only its id means anything. */
export interface BlkifOtherRequest {
  readonly kind: "other";
  readonly operation: number;
  readonly id: BlkifId;
}

/** A request as found on the ring. */
export type BlkifRequest =
  | BlkifRwRequest
  | BlkifDiscardRequest
  | BlkifIndirectRequest
  | BlkifOtherRequest;

/** Segments a direct request carries: `min(nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST)`. */
export function directSegmentCount(nr_segments: number): number {
  return Math.min(nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST);
}

/**
 * Indirect pages an indirect request names: `min(8, ceil(nr_segments / 512))` (Linux
 * `INDIRECT_PAGES`, capped as `blkif_get_x86_*_req` caps it).
 */
export function indirectPageCount(nr_segments: number): number {
  return Math.min(
    BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
    Math.ceil(nr_segments / SEGS_PER_INDIRECT_FRAME),
  );
}

const TWO_32 = 2 ** 32;
const SAFE_HI = 2 ** 21; // hi words at or above this make a u64 of 2^53 or more

/** Reads a u64 id exactly: a number below 2^53, otherwise a bigint. */
export function readBlkifId(input: EntryReader, offset: number): BlkifId {
  const lo = input.getU32(offset);
  const hi = input.getU32(offset + 4);
  return hi < SAFE_HI ? hi * TWO_32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
}

/** Writes a u64 id. @throws RangeError unless it is an integer in 0..2^64-1. */
export function writeBlkifId(out: EntryWriter, offset: number, id: BlkifId): void {
  if (typeof id === "bigint") {
    if (id < 0n || id > 0xffff_ffff_ffff_ffffn) throw new RangeError(`id ${id} does not fit a u64`);
    out.setU32(offset, Number(id & 0xffff_ffffn));
    out.setU32(offset + 4, Number(id >> 32n));
  } else {
    writeU53(out, offset, id);
  }
}

/**
 * Writes a u64 field whose value is a number (0..2^53-1) as two u32 stores: the same bytes as
 * `setU64`, without its BigInt conversion. @throws RangeError for any other value.
 */
export function writeU53(out: EntryWriter, offset: number, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`value ${v} does not fit [0, ${Number.MAX_SAFE_INTEGER}]`);
  out.setU32(offset, v >>> 0);
  out.setU32(offset + 4, Math.floor(v / TWO_32));
}

/**
 * Reads a u64 sector quantity. Exact below 2^53; a value of 2^53 or more comes out as a number
 * above `Number.MAX_SAFE_INTEGER` (rounded), which `validateBlkifRequest` rejects.
 */
function readSectors(input: EntryReader, offset: number): number {
  return input.getU32(offset + 4) * TWO_32 + input.getU32(offset);
}

function readSegment(input: EntryReader, offset: number): BlkifSegment {
  return {
    gref: input.getU32(offset),
    first_sect: input.getU8(offset + 4),
    last_sect: input.getU8(offset + 5),
  };
}

/**
 * Decodes the request in `input` (a private copy of one ring entry of `wire.requestSize` bytes).
 * Never throws on the entry's contents; see the file header for what each kind holds.
 */
export function decodeBlkifRequest(input: EntryReader, wire: BlkifWire): BlkifRequest {
  const operation = input.getU8(0);
  switch (operation) {
    case BLKIF_OP.BLKIF_OP_READ:
    case BLKIF_OP.BLKIF_OP_WRITE:
    case BLKIF_OP.BLKIF_OP_WRITE_BARRIER:
    case BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE: {
      const w = wire.rw;
      const nr_segments = input.getU8(w.nr_segments);
      const n = directSegmentCount(nr_segments);
      const seg = new Array<BlkifSegment>(n);
      for (let i = 0; i < n; i++)
        seg[i] = readSegment(input, w.seg + i * BLKIF_REQUEST_SEGMENT_SIZE);
      return {
        kind: "rw",
        operation,
        nr_segments,
        handle: input.getU16(w.handle),
        id: readBlkifId(input, w.id),
        sector_number: readSectors(input, w.sector_number),
        seg,
      };
    }
    case BLKIF_OP.BLKIF_OP_DISCARD: {
      const w = wire.discard;
      return {
        kind: "discard",
        operation,
        flag: input.getU8(w.flag),
        handle: input.getU16(w.handle),
        id: readBlkifId(input, w.id),
        sector_number: readSectors(input, w.sector_number),
        nr_sectors: readSectors(input, w.nr_sectors),
      };
    }
    case BLKIF_OP.BLKIF_OP_INDIRECT: {
      const w = wire.indirect;
      const nr_segments = input.getU16(w.nr_segments);
      const pages = indirectPageCount(nr_segments);
      const indirect_grefs = new Array<number>(pages);
      for (let i = 0; i < pages; i++) indirect_grefs[i] = input.getU32(w.indirect_grefs + 4 * i);
      return {
        kind: "indirect",
        operation,
        indirect_op: input.getU8(w.indirect_op),
        nr_segments,
        handle: input.getU16(w.handle),
        id: readBlkifId(input, w.id),
        sector_number: readSectors(input, w.sector_number),
        indirect_grefs,
      };
    }
    default:
      return { kind: "other", operation, id: readBlkifId(input, wire.otherId) };
  }
}

function kindOf(operation: number): BlkifRequest["kind"] {
  if (operation <= BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE) return "rw";
  if (operation === BLKIF_OP.BLKIF_OP_DISCARD) return "discard";
  if (operation === BLKIF_OP.BLKIF_OP_INDIRECT) return "indirect";
  return "other";
}

/**
 * Encodes `req` into a zeroed entry (the ring zeroes it first) in `wire`'s layout. Values need
 * not be valid requests — only fit their fields — so tests can send what a hostile frontend
 * would; `seg` and `indirect_grefs` must hold exactly what decoding would give back.
 * @throws RangeError if `operation` does not belong to `kind`, a value does not fit its field,
 *   or `seg` / `indirect_grefs` has the wrong length for `nr_segments`.
 */
export function encodeBlkifRequest(req: BlkifRequest, out: EntryWriter, wire: BlkifWire): void {
  if (kindOf(req.operation) !== req.kind)
    throw new RangeError(`operation ${req.operation} is not a ${req.kind} request`);
  out.setU8(0, req.operation);
  switch (req.kind) {
    case "rw": {
      const w = wire.rw;
      const n = directSegmentCount(req.nr_segments);
      if (req.seg.length !== n)
        throw new RangeError(
          `nr_segments ${req.nr_segments} needs ${n} segments, got ${req.seg.length}`,
        );
      out.setU8(w.nr_segments, req.nr_segments);
      out.setU16(w.handle, req.handle);
      writeBlkifId(out, w.id, req.id);
      writeU53(out, w.sector_number, req.sector_number);
      for (let i = 0; i < n; i++) {
        const s = req.seg[i]!;
        const at = w.seg + i * BLKIF_REQUEST_SEGMENT_SIZE;
        out.setU32(at, s.gref);
        out.setU8(at + 4, s.first_sect);
        out.setU8(at + 5, s.last_sect);
      }
      return;
    }
    case "discard": {
      const w = wire.discard;
      out.setU8(w.flag, req.flag);
      out.setU16(w.handle, req.handle);
      writeBlkifId(out, w.id, req.id);
      writeU53(out, w.sector_number, req.sector_number);
      writeU53(out, w.nr_sectors, req.nr_sectors);
      return;
    }
    case "indirect": {
      const w = wire.indirect;
      const pages = indirectPageCount(req.nr_segments);
      if (req.indirect_grefs.length !== pages) {
        throw new RangeError(
          `nr_segments ${req.nr_segments} needs ${pages} indirect pages, got ${req.indirect_grefs.length}`,
        );
      }
      out.setU8(w.indirect_op, req.indirect_op);
      out.setU16(w.nr_segments, req.nr_segments);
      out.setU16(w.handle, req.handle);
      writeBlkifId(out, w.id, req.id);
      writeU53(out, w.sector_number, req.sector_number);
      for (let i = 0; i < pages; i++) out.setU32(w.indirect_grefs + 4 * i, req.indirect_grefs[i]!);
      return;
    }
    case "other":
      writeBlkifId(out, wire.otherId, req.id);
      return;
  }
}

/**
 * Writes the header of a direct READ/WRITE/BARRIER/FLUSH request (`struct blkif_request`)
 * into a zeroed entry — the bytes `encodeBlkifRequest` writes for `{ kind: "rw", operation,
 * nr_segments, handle, id, sector_number }` — for a producer writing the slot in place; the
 * segments follow with `writeBlkifSegment`.
 * @throws RangeError if a value does not fit its field (id and sector are numbers below 2^53).
 */
export function writeBlkifRwHeader(
  out: EntryWriter,
  wire: BlkifWire,
  operation: BlkifRwOperation,
  nr_segments: number,
  handle: number,
  id: number,
  sector_number: number,
): void {
  const w = wire.rw;
  out.setU8(0, operation);
  out.setU8(w.nr_segments, nr_segments);
  out.setU16(w.handle, handle);
  writeU53(out, w.id, id);
  writeU53(out, w.sector_number, sector_number);
}

/** Writes segment `i` of a direct request (`seg[i]`, i < 11) in place (see `writeBlkifRwHeader`). */
export function writeBlkifSegment(
  out: EntryWriter,
  wire: BlkifWire,
  i: number,
  gref: number,
  first_sect: number,
  last_sect: number,
): void {
  const at = wire.rw.seg + i * BLKIF_REQUEST_SEGMENT_SIZE;
  out.setU32(at, gref);
  out.setU8(at + 4, first_sect);
  out.setU8(at + 5, last_sect);
}

/**
 * A private image of one direct READ/WRITE request (`struct blkif_request` with its first
 * `nr_segments` segments), built with plain stores and copied into the ring slot in one
 * `write`: the producer's hot path (blkfront's `blkif_queue_rw_req`, one request per call). The
 * image holds the bytes `writeBlkifRwHeader` and `writeBlkifSegment` write into a zeroed slot —
 * the pad bytes zero, the slot's bytes past the segments left as the slot's zeroing left them —
 * with the values checked once, here, instead of by every field's accessor.
 */
export class BlkifRwImage {
  readonly #wire: BlkifWire;
  readonly #dv: DataView;
  /** `bytes.subarray(0, seg + 8 * n)` for n = 0..11: what `write` copies for n segments. */
  readonly #views: Uint8Array[];
  #n = 0;

  constructor(wire: BlkifWire) {
    this.#wire = wire;
    const bytes = new Uint8Array(
      wire.rw.seg + BLKIF_MAX_SEGMENTS_PER_REQUEST * BLKIF_REQUEST_SEGMENT_SIZE,
    );
    this.#dv = new DataView(bytes.buffer);
    this.#views = Array.from({ length: BLKIF_MAX_SEGMENTS_PER_REQUEST + 1 }, (_, n) =>
      bytes.subarray(0, wire.rw.seg + n * BLKIF_REQUEST_SEGMENT_SIZE),
    );
  }

  /**
   * Starts the image of a request of `nr_segments` (1..11) segments; `segment` fills them.
   * @throws RangeError if a value does not fit its field (`id` and `sector_number` are numbers
   *   below 2^53).
   */
  header(
    operation: BlkifRwOperation,
    nr_segments: number,
    handle: number,
    id: number,
    sector_number: number,
  ): void {
    if (
      (operation & 0xff) !== operation ||
      !(nr_segments >= 1 && nr_segments <= BLKIF_MAX_SEGMENTS_PER_REQUEST) ||
      (handle & 0xffff) !== handle ||
      !Number.isSafeInteger(id) ||
      id < 0 ||
      !Number.isSafeInteger(sector_number) ||
      sector_number < 0
    )
      throw new RangeError(
        `request fields out of range: op ${operation}, ${nr_segments} segments, handle ${handle}, id ${id}, sector ${sector_number}`,
      );
    const w = this.#wire.rw;
    const dv = this.#dv;
    this.#n = nr_segments;
    dv.setUint8(0, operation);
    dv.setUint8(w.nr_segments, nr_segments);
    dv.setUint16(w.handle, handle, true);
    dv.setUint32(w.id, id >>> 0, true);
    dv.setUint32(w.id + 4, Math.floor(id / TWO_32), true);
    dv.setUint32(w.sector_number, sector_number >>> 0, true);
    dv.setUint32(w.sector_number + 4, Math.floor(sector_number / TWO_32), true);
  }

  /** Segment `i` (below the header's `nr_segments`). @throws RangeError for a value that does not fit. */
  segment(i: number, gref: number, first_sect: number, last_sect: number): void {
    if (
      !(i >= 0 && i < this.#n) ||
      gref >>> 0 !== gref ||
      (first_sect & 0xff) !== first_sect ||
      (last_sect & 0xff) !== last_sect
    )
      throw new RangeError(
        `segment ${i} out of range: gref ${gref}, sectors ${first_sect}..${last_sect}`,
      );
    const at = this.#wire.rw.seg + i * BLKIF_REQUEST_SEGMENT_SIZE;
    const dv = this.#dv;
    dv.setUint32(at, gref, true);
    dv.setUint8(at + 4, first_sect);
    dv.setUint8(at + 5, last_sect);
  }

  /** Copies the image (header and its segments) into `out`, a zeroed slot, in one write. */
  writeTo(out: EntryWriter): void {
    out.write(0, this.#views[this.#n]!);
  }
}
