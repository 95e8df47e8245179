/**
 * The blkif layer (`io/blkif.h`): request and response codecs for the `x86_64-abi` and
 * `x86_32-abi` rings, the protocol checks a backend runs on its private copy, and indirect
 * pages. blkfront and blkback build on these.
 */
export { type BlkifProtocol, type BlkifWire, BLKIF_PROTOCOLS, blkifWire, blkifProtocolOf } from "./blkif-protocol.js";
export {
  type BlkifId,
  type BlkifSegment,
  type BlkifRwOperation,
  type BlkifRwRequest,
  type BlkifDiscardRequest,
  type BlkifIndirectRequest,
  type BlkifOtherRequest,
  type BlkifRequest,
  decodeBlkifRequest,
  encodeBlkifRequest,
  directSegmentCount,
  indirectPageCount,
  readBlkifId,
  writeBlkifId,
} from "./blkif-request.js";
export { type BlkifResponse, encodeBlkifResponse, decodeBlkifResponse } from "./blkif-response.js";
export {
  type BlkifRequestProblem,
  type BlkifRequestProblemReason,
  type BlkifLimits,
  SECTORS_PER_FRAME,
  BLKIF_MAX_INDIRECT_SEGMENTS,
  validateBlkifRequest,
  checkSegment,
  blkifResponseOperation,
  describeBlkifProblem,
} from "./blkif-validate.js";
export { INDIRECT_PAGE_SIZE, type IndirectSegmentsResult, decodeIndirectSegments, encodeIndirectSegments } from "./indirect-page.js";
export { blkifRingSpec } from "./blkif-ring.js";
export * from "./front/index.js";
