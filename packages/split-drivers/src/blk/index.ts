/**
 * The blkif layer (`io/blkif.h`): request and response codecs for the `x86_64-abi` and
 * `x86_32-abi` rings, the protocol checks a backend runs on its private copy, and indirect
 * pages. blkfront and blkback build on these.
 */
export {
  type BlkifProtocol,
  type BlkifWire,
  BLKIF_PROTOCOLS,
  blkifWire,
  blkifProtocolOf,
} from "./blkif-protocol.js";
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
export {
  INDIRECT_PAGE_SIZE,
  type IndirectSegmentsResult,
  decodeIndirectSegments,
  encodeIndirectSegments,
} from "./indirect-page.js";
export { blkifRingSpec } from "./blkif-ring.js";
export * from "./front/index.js";
export {
  type Storage,
  type PageSpan,
  type StorageSectorSize,
  type StorageErrorCode,
  type ClockHolder,
  StorageError,
  storageBytes,
} from "./storage/storage.js";
export { MemoryStorage, type MemoryStorageOptions } from "./storage/memory-storage.js";
export { FileStorage, type FileStorageOptions } from "./storage/file-storage.js";
export { ReadOnlyStorage } from "./storage/read-only-storage.js";
export { WrappedStorage } from "./storage/wrapped-storage.js";
export {
  FaultyStorage,
  type FaultyStorageOptions,
  type FaultyStorageStats,
  type StorageOp,
  type DelayScheduler,
} from "./storage/faulty-storage.js";
export { CowStorage, type CowStorageOptions } from "./storage/cow-storage.js";
export { openStorage, DEFAULT_MEMORY_BYTES, type StorageKeys } from "./storage/storage-spec.js";
export {
  blkbackDriver,
  BLKBACK_MAX_INDIRECT_SEGMENTS,
  BLKBACK_MAX_RING_PAGE_ORDER,
  BLKBACK_MAX_QUEUES,
  type BlkbackOptions,
  type BlkbackDevice,
  type BlkbackDriver,
} from "./back/blkback-driver.js";
export {
  BlkbackQueue,
  type BlkbackQueueStats,
  ERROR_BACKOFF_NS,
  SPURIOUS_THRESHOLD,
  MAX_EOI_DELAY_NS,
} from "./back/blkback-queue.js";
export {
  BlkbackConnectError,
  type ConnectPlan,
  type RingPlan,
  readConnectPlan,
  scanUnsigned,
} from "./back/connect-ring.js";
export {
  PersistentGrants,
  MAX_PERSISTENT_GRANTS,
  LRU_INTERVAL_NS,
  PERSISTENT_GRANT_UNUSED_NS,
  type SegmentPage,
} from "./back/persistent-grants.js";
export { Vbd, type VbdFeatures, type VbdRefusal } from "./back/vbd.js";
export {
  serveBlkback,
  type BlkbackHost,
  type ServeBlkbackOptions,
  type ServedBlkback,
} from "./back/serve-blkback.js";
