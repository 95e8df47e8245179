/** blkfront: the vbd frontend driver and the block device it gives a guest program. */
export {
  Blkfront,
  BLKFRONT_MAX_FAILED_RECONNECTS,
  type BlkfrontOptions,
  type BlkfrontConnection,
} from "./blkfront.js";
export {
  BlkfrontDisk,
  type BlkfrontDiskState,
  type BlkfrontFeatures,
  type BlkfrontDiskEvents,
  type BlockIo,
  type DiscardOptions,
} from "./blkfront-disk.js";
export { BlkfrontFrames } from "./blkfront-frames.js";
export {
  BlkfrontError,
  type BlkfrontErrorReason,
  BLKFRONT_DISABLING_REASONS,
} from "./blkfront-error.js";
export {
  type BlkfrontLimits,
  type BlkfrontDiskInfo,
  type BlkfrontFlushMode,
  type BlkfrontTransport,
  BLKFRONT_DEFAULT_MAX_INDIRECT_SEGMENTS,
  BLKFRONT_DEFAULT_MAX_QUEUES,
} from "./negotiate.js";
export { BlkQueue, type Chunk, type ChunkOp } from "./blk-queue.js";
export type { BlockStreamOptions, ReadResult, WriteResult } from "./byte-io.js";
