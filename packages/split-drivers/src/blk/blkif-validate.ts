/**
 * The protocol checks a backend applies to its private copy of a request before acting on it,
 * in Linux blkback's order (`__do_block_io_op`, `dispatch_rw_block_io`,
 * `xen_blkbk_parse_indirect`), each failure a typed problem that names the response status:
 *
 * ```
 * unknown operation (4, 7..255)                  -> BLKIF_RSP_EOPNOTSUPP  (dispatch_other_io)
 * INDIRECT with indirect_op not READ/WRITE       -> BLKIF_RSP_ERROR  "Invalid indirect operation"
 * nr_segments 0 for READ/WRITE (direct/indirect),
 *   > 11 direct, > maxIndirectSegments indirect  -> BLKIF_RSP_ERROR  "Bad number of segments"
 * a segment with last_sect >= 8 (XEN_PAGE_SIZE >> 9) or last_sect < first_sect
 *                                                -> BLKIF_RSP_ERROR
 * a u64 sector field of 2^53 or more             -> BLKIF_RSP_ERROR  (past any disk: Linux's
 *                                                   xen_vbd_translate refuses it too)
 * ```
 *
 * What needs the disk (range, read-only, alignment to the sector size) or the grant table is
 * blkback's to check after these. Segments of indirect requests live in the indirect pages:
 * `decodeIndirectSegments` (indirect-page.ts) checks them with the same rule.
 */
import {
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_RSP,
  SEGS_PER_INDIRECT_FRAME,
} from "@pvkit/hypervisor-sim/abi";
import type { BlkifRequest, BlkifSegment } from "./blkif-request.js";

/** Sectors in a 4 KiB frame (`XEN_PAGE_SIZE >> 9`): `last_sect` must be below this. */
export const SECTORS_PER_FRAME = 8;
/** The most segments an indirect request can describe: 8 pages of 512 segments. */
export const BLKIF_MAX_INDIRECT_SEGMENTS =
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * SEGS_PER_INDIRECT_FRAME;

/** What is wrong with a request, and the status its response carries. */
export type BlkifRequestProblem =
  | {
      /** An operation the protocol does not define (or reserves). */
      readonly reason: "unsupported-operation";
      readonly status: typeof BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP;
      readonly operation: number;
    }
  | {
      /** `indirect_op` is neither BLKIF_OP_READ nor BLKIF_OP_WRITE. */
      readonly reason: "bad-indirect-op";
      readonly status: typeof BLKIF_RSP.BLKIF_RSP_ERROR;
      readonly indirect_op: number;
    }
  | {
      /** `nr_segments` outside `min..max` for the operation. */
      readonly reason: "bad-nr-segments";
      readonly status: typeof BLKIF_RSP.BLKIF_RSP_ERROR;
      readonly nr_segments: number;
      readonly min: number;
      readonly max: number;
    }
  | {
      /** Segment `index` (0-based over the whole request) names sectors outside its frame. */
      readonly reason: "bad-segment";
      readonly status: typeof BLKIF_RSP.BLKIF_RSP_ERROR;
      readonly index: number;
      readonly first_sect: number;
      readonly last_sect: number;
    }
  | {
      /** A u64 sector field is 2^53 or more (so beyond any disk). */
      readonly reason: "sector-out-of-range";
      readonly status: typeof BLKIF_RSP.BLKIF_RSP_ERROR;
      readonly field: "sector_number" | "nr_sectors";
    };

/** The `reason` of a BlkifRequestProblem. */
export type BlkifRequestProblemReason = BlkifRequestProblem["reason"];

/** Limits a backend advertises. */
export interface BlkifLimits {
  /**
   * Most segments of an indirect request: the backend's `feature-max-indirect-segments`
   * (Linux: 256). Default and maximum: 8 × 512 = 4096.
   */
  readonly maxIndirectSegments?: number;
}

const ERROR = BLKIF_RSP.BLKIF_RSP_ERROR;

/** `first_sect..last_sect` is an inclusive range inside one 4 KiB frame (Linux's segment check). */
export function checkSegment(s: BlkifSegment, index: number): BlkifRequestProblem | undefined {
  if (s.last_sect >= SECTORS_PER_FRAME || s.last_sect < s.first_sect) {
    return {
      reason: "bad-segment",
      status: ERROR,
      index,
      first_sect: s.first_sect,
      last_sect: s.last_sect,
    };
  }
  return undefined;
}

function checkSectors(
  value: number,
  field: "sector_number" | "nr_sectors",
): BlkifRequestProblem | undefined {
  return value > Number.MAX_SAFE_INTEGER
    ? { reason: "sector-out-of-range", status: ERROR, field }
    : undefined;
}

function resolveMax(limits: BlkifLimits | undefined): number {
  const max = limits?.maxIndirectSegments ?? BLKIF_MAX_INDIRECT_SEGMENTS;
  if (!Number.isInteger(max) || max < 1 || max > BLKIF_MAX_INDIRECT_SEGMENTS) {
    throw new RangeError(
      `maxIndirectSegments ${max} must be an integer in 1..${BLKIF_MAX_INDIRECT_SEGMENTS}`,
    );
  }
  return max;
}

/**
 * Checks a decoded request (from the backend's private copy); `undefined` when it passes.
 * The first failing check wins, in Linux blkback's order (see the file header).
 * @throws RangeError for limits outside 1..4096 (a driver bug, not the frontend's).
 */
export function validateBlkifRequest(
  req: BlkifRequest,
  limits?: BlkifLimits,
): BlkifRequestProblem | undefined {
  switch (req.kind) {
    case "other":
      return {
        reason: "unsupported-operation",
        status: BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP,
        operation: req.operation,
      };
    case "discard":
      return (
        checkSectors(req.sector_number, "sector_number") ??
        checkSectors(req.nr_sectors, "nr_sectors")
      );
    case "rw": {
      // Barrier and flush may come without data (Linux: nseg 0 only with REQ_PREFLUSH).
      const min =
        req.operation === BLKIF_OP.BLKIF_OP_READ || req.operation === BLKIF_OP.BLKIF_OP_WRITE
          ? 1
          : 0;
      if (req.nr_segments < min || req.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        return {
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: req.nr_segments,
          min,
          max: BLKIF_MAX_SEGMENTS_PER_REQUEST,
        };
      }
      for (let i = 0; i < req.seg.length; i++) {
        const p = checkSegment(req.seg[i]!, i);
        if (p !== undefined) return p;
      }
      return checkSectors(req.sector_number, "sector_number");
    }
    case "indirect": {
      const max = resolveMax(limits);
      if (
        req.indirect_op !== BLKIF_OP.BLKIF_OP_READ &&
        req.indirect_op !== BLKIF_OP.BLKIF_OP_WRITE
      ) {
        return { reason: "bad-indirect-op", status: ERROR, indirect_op: req.indirect_op };
      }
      if (req.nr_segments < 1 || req.nr_segments > max) {
        return {
          reason: "bad-nr-segments",
          status: ERROR,
          nr_segments: req.nr_segments,
          min: 1,
          max,
        };
      }
      return checkSectors(req.sector_number, "sector_number");
    }
  }
}

/**
 * The `operation` a response to `req` carries: the request's, except that an indirect request
 * is answered with its `indirect_op` (Linux blkback's `pending_req->operation`, which blkfront's
 * "response has wrong operation" check expects).
 */
export function blkifResponseOperation(req: BlkifRequest): number {
  return req.kind === "indirect" ? req.indirect_op : req.operation;
}

/** A one-line description of a problem, in the words of Linux blkback's debug messages where it has them. */
export function describeBlkifProblem(p: BlkifRequestProblem): string {
  switch (p.reason) {
    case "unsupported-operation":
      return `unsupported operation ${p.operation}`;
    case "bad-indirect-op":
      return `Invalid indirect operation (${p.indirect_op})`;
    case "bad-nr-segments":
      return `Bad number of segments in request (${p.nr_segments}; allowed ${p.min}..${p.max})`;
    case "bad-segment":
      return `segment ${p.index}: sectors ${p.first_sect}..${p.last_sect} outside a ${SECTORS_PER_FRAME}-sector frame`;
    case "sector-out-of-range":
      return `${p.field} is 2^53 or more`;
  }
}
