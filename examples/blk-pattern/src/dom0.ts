/**
 * dom0's check, after blkback closed the image: read the raw image file with plain
 * `fs/promises` and compare every byte — the pattern inside the regions the guest wrote, zeros
 * everywhere else (the image was created empty and sparse).
 */
import { open } from "node:fs/promises";
import { type Mismatch, type Region, compare, patternByte } from "./pattern.js";

/** What dom0 found in the image file. */
export interface ImageReport {
  readonly path: string;
  /** The file's size in bytes. */
  readonly fileBytes: number;
  /** Bytes compared (the whole file), and how many of them carry the pattern. */
  readonly bytesChecked: number;
  readonly patternBytes: number;
  readonly mismatchCount: number;
  readonly mismatches: readonly Mismatch[];
}

/** Reads `path` in 1 MiB pieces; see the file header. */
export async function checkImage(path: string, regions: readonly Region[]): Promise<ImageReport> {
  const inRegion = (o: number): boolean =>
    regions.some((r) => o >= r.position && o < r.position + r.length);
  const expected = (o: number): number => (inRegion(o) ? patternByte(o) : 0);
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    const buf = new Uint8Array(1 << 20);
    const mismatches: Mismatch[] = [];
    let bad = 0;
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) break;
      bad += compare(buf.subarray(0, bytesRead), pos, expected, mismatches);
      pos += bytesRead;
    }
    const patternBytes = regions.reduce(
      (n, r) => n + Math.max(0, Math.min(r.length, size - r.position)),
      0,
    );
    return {
      path,
      fileBytes: size,
      bytesChecked: size,
      patternBytes,
      mismatchCount: bad,
      mismatches,
    };
  } finally {
    await fh.close();
  }
}
