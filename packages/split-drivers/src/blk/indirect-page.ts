/**
 * Indirect pages: the segment arrays an `BLKIF_OP_INDIRECT` request points at with
 * `indirect_grefs[]`. Each 4 KiB page holds 512 `struct blkif_request_segment` (8 bytes each);
 * segment `n` of the request is entry `n % 512` of page `floor(n / 512)`.
 *
 * ```
 * page k:  | seg 512k | seg 512k+1 | ... | seg 512k+511 |      (each: gref u32, first u8, last u8, 2 pad)
 *          0          8            16          4088        4096
 * ```
 *
 * XSA-155: the frontend can rewrite a granted page at any time, so a backend copies each
 * mapped indirect page once into private memory and decodes only the copy, reading every
 * segment once (Linux "xen-blkback: read from indirect descriptors only once"). These
 * functions take that copy; they do not read shared memory themselves.
 */
import { BLKIF_REQUEST_SEGMENT_SIZE, SEGS_PER_INDIRECT_FRAME } from "@pvkit/hypervisor-sim/abi";
import type { BlkifSegment } from "./blkif-request.js";
import { indirectPageCount } from "./blkif-request.js";
import { type BlkifRequestProblem, checkSegment } from "./blkif-validate.js";

/** Bytes of one indirect page (`XEN_PAGE_SIZE`). */
export const INDIRECT_PAGE_SIZE = SEGS_PER_INDIRECT_FRAME * BLKIF_REQUEST_SEGMENT_SIZE;

/** The segments of an indirect request, or the first one that failed the segment check. */
export type IndirectSegmentsResult =
  | { readonly ok: true; readonly segments: BlkifSegment[] }
  | { readonly ok: false; readonly problem: BlkifRequestProblem };

function checkPage(page: Uint8Array, what: string): DataView {
  if (page.length !== INDIRECT_PAGE_SIZE)
    throw new RangeError(`${what} is ${page.length} bytes, not ${INDIRECT_PAGE_SIZE}`);
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

/**
 * Decodes and checks the `nr_segments` segments of an indirect request from private copies of
 * its indirect pages (in `indirect_grefs` order). Stops at the first segment whose
 * `last_sect >= 8` or `last_sect < first_sect` (Linux `xen_blkbk_parse_indirect`), reporting
 * its index over the whole request.
 * @param pages `ceil(nr_segments / 512)` copies of 4096 bytes each.
 * @param nr_segments 1..4096, as already checked by `validateBlkifRequest`.
 * @throws RangeError (a driver bug) for a page count or size that does not fit `nr_segments`.
 */
export function decodeIndirectSegments(
  pages: readonly Uint8Array[],
  nr_segments: number,
): IndirectSegmentsResult {
  if (
    !Number.isInteger(nr_segments) ||
    nr_segments < 0 ||
    nr_segments > SEGS_PER_INDIRECT_FRAME * 8
  ) {
    throw new RangeError(`nr_segments ${nr_segments} is not 0..${SEGS_PER_INDIRECT_FRAME * 8}`);
  }
  const want = indirectPageCount(nr_segments);
  if (pages.length !== want)
    throw new RangeError(
      `${nr_segments} segments need ${want} indirect pages, got ${pages.length}`,
    );
  const segments = new Array<BlkifSegment>(nr_segments);
  for (let p = 0; p < want; p++) {
    const dv = checkPage(pages[p]!, `indirect page ${p}`);
    const first = p * SEGS_PER_INDIRECT_FRAME;
    const end = Math.min(nr_segments, first + SEGS_PER_INDIRECT_FRAME);
    for (let n = first; n < end; n++) {
      const at = (n - first) * BLKIF_REQUEST_SEGMENT_SIZE;
      const s: BlkifSegment = {
        gref: dv.getUint32(at, true),
        first_sect: dv.getUint8(at + 4),
        last_sect: dv.getUint8(at + 5),
      };
      const problem = checkSegment(s, n);
      if (problem !== undefined) return { ok: false, problem };
      segments[n] = s;
    }
  }
  return { ok: true, segments };
}

/**
 * The frontend's side: lays `segments` out over `ceil(segments.length / 512)` zero-filled
 * 4096-byte pages, ready to be written into the granted indirect pages. Values are written as
 * given (a test may build bad ones), but must fit their fields.
 * @throws RangeError for more than 4096 segments or a value that does not fit (gref u32, sectors u8).
 */
export function encodeIndirectSegments(segments: readonly BlkifSegment[]): Uint8Array[] {
  if (segments.length > SEGS_PER_INDIRECT_FRAME * 8)
    throw new RangeError(`${segments.length} segments exceed 8 indirect pages`);
  const count = indirectPageCount(segments.length);
  const pages: Uint8Array[] = [];
  for (let p = 0; p < count; p++) {
    const page = new Uint8Array(INDIRECT_PAGE_SIZE);
    const dv = new DataView(page.buffer);
    const first = p * SEGS_PER_INDIRECT_FRAME;
    const end = Math.min(segments.length, first + SEGS_PER_INDIRECT_FRAME);
    for (let n = first; n < end; n++) {
      const s = segments[n]!;
      const at = (n - first) * BLKIF_REQUEST_SEGMENT_SIZE;
      fits(s.gref, 0xffff_ffff, n, "gref");
      fits(s.first_sect, 0xff, n, "first_sect");
      fits(s.last_sect, 0xff, n, "last_sect");
      dv.setUint32(at, s.gref, true);
      dv.setUint8(at + 4, s.first_sect);
      dv.setUint8(at + 5, s.last_sect);
    }
    pages.push(page);
  }
  return pages;
}

function fits(value: number, max: number, index: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw new RangeError(`segment ${index}: ${field} ${value} does not fit 0..${max}`);
}
