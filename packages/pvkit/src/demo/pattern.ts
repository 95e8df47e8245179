/**
 * The demo's disk pattern: each byte a function of its absolute byte offset on the disk, so
 * whoever checks it (the guest reading back through blkfront, dom0 reading the image file)
 * needs only the offset.
 */
import { open } from "node:fs/promises";

/** The pattern's byte at disk offset `offset` (a 32-bit integer hash of it). */
export function patternByte(offset: number): number {
  let x = Math.imul(offset ^ 0x5bd1e995, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) & 0xff;
}

/** `buf` filled with the pattern of the disk bytes from `position`. */
export function fillPattern(buf: Uint8Array, position: number): Uint8Array {
  for (let i = 0; i < buf.length; i++) buf[i] = patternByte(position + i);
  return buf;
}

/** Bytes of `buf` (the disk bytes from `position`) that differ from the pattern, and the first. */
export function countMismatches(
  buf: Uint8Array,
  position: number,
): { count: number; first: number | undefined } {
  let count = 0;
  let first: number | undefined;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== patternByte(position + i)) {
      count++;
      first ??= position + i;
    }
  }
  return { count, first };
}

/** What dom0 found in the image file. */
export interface ImageCheck {
  readonly fileBytes: number;
  readonly mismatches: number;
  /** Byte offset of the first mismatch. */
  readonly first: number | undefined;
}

/** Reads the whole image file with plain fs (after blkback closed it) and checks every byte. */
export async function checkImageFile(path: string): Promise<ImageCheck> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    const buf = new Uint8Array(1 << 20);
    let mismatches = 0;
    let first: number | undefined;
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) break;
      const m = countMismatches(buf.subarray(0, bytesRead), pos);
      mismatches += m.count;
      first ??= m.first;
      pos += bytesRead;
    }
    return { fileBytes: size, mismatches, first };
  } finally {
    await fh.close();
  }
}
