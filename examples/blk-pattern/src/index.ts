/** examples/blk-pattern: a pattern written and verified through blkfront/blkback onto a raw image file. */
export { runBlkPattern, XVDA, type BlkPatternOptions, type BlkPatternReport } from "./scenario.js";
export { writeAndVerify, WRITE_CHUNK, type GuestReport } from "./domu.js";
export { checkImage, type ImageReport } from "./dom0.js";
export {
  REGIONS,
  IMAGE_BYTES,
  patternByte,
  fillPattern,
  compare,
  type Region,
  type Mismatch,
} from "./pattern.js";
export { createImage } from "./image.js";
