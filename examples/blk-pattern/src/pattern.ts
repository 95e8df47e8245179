/**
 * The pattern: each byte a function of its absolute byte offset on the disk, so whoever checks
 * (the guest reading back, dom0 reading the image file) needs only the offset, not how the
 * bytes were written.
 */

/** What the guest writes: byte ranges of the disk. */
export interface Region {
  /** Byte offset on the disk. */
  readonly position: number;
  /** Bytes. */
  readonly length: number;
}

/**
 * The regions the example writes into an 8 MiB image: 1 MiB sector-aligned at 1 MiB (in
 * 64 KiB writes, many in flight), and 1000 bytes at 3 MiB + 77 (unaligned: blkfront reads the
 * partial sectors and writes them back whole).
 */
export const REGIONS: readonly Region[] = [
  { position: 1 << 20, length: 1 << 20 },
  { position: 3 * (1 << 20) + 77, length: 1000 },
];

/** Size of the image file the example creates: 8 MiB. */
export const IMAGE_BYTES = 8 << 20;

/** The pattern's byte at disk offset `offset` (a 32-bit integer hash of it). */
export function patternByte(offset: number): number {
  let x = Math.imul(offset ^ 0x9e3779b9, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) & 0xff;
}

/** Fills `buf` with the pattern of the disk bytes from `position`. */
export function fillPattern(buf: Uint8Array, position: number): Uint8Array {
  for (let i = 0; i < buf.length; i++) buf[i] = patternByte(position + i);
  return buf;
}

/** A difference from what was expected. */
export interface Mismatch {
  readonly offset: number;
  readonly expected: number;
  readonly actual: number;
}

/**
 * Compares `buf` (the disk bytes from `position`) with `expected(offset)`; appends at most
 * `max` mismatches to `out` and returns the total count.
 */
export function compare(
  buf: Uint8Array,
  position: number,
  expected: (offset: number) => number,
  out: Mismatch[],
  max = 8,
): number {
  let n = 0;
  for (let i = 0; i < buf.length; i++) {
    const want = expected(position + i);
    if (buf[i] !== want) {
      if (out.length < max) out.push({ offset: position + i, expected: want, actual: buf[i]! });
      n++;
    }
  }
  return n;
}
