/**
 * The domU's program: with blkfront's `BlkfrontDisk`, write the pattern into each region
 * through the byte-offset interface (`disk.write(buffer, offset, length, position)`, as
 * `fs.FileHandle.write`), flush, then read every region back and compare with the pattern.
 */
import type { BlkfrontDisk } from "@pvkit/split-drivers";
import { type Mismatch, type Region, compare, fillPattern, patternByte } from "./pattern.js";

/** Bytes per `disk.write` call. */
export const WRITE_CHUNK = 64 * 1024;

/** What the guest found. */
export interface GuestReport {
  /** Disk size in bytes and logical sector size, as blkfront negotiated them. */
  readonly diskBytes: number;
  readonly sectorSize: number;
  readonly bytesWritten: number;
  readonly bytesVerified: number;
  /** `disk.write` calls. */
  readonly writeCalls: number;
  readonly mismatchCount: number;
  /** The first few mismatches. */
  readonly mismatches: readonly Mismatch[];
}

/** Writes, flushes, reads back and verifies `regions` (all writes of a region in flight at once). */
export async function writeAndVerify(
  disk: BlkfrontDisk,
  regions: readonly Region[],
): Promise<GuestReport> {
  let written = 0;
  let calls = 0;
  for (const r of regions) {
    const data = fillPattern(new Uint8Array(r.length), r.position);
    const writes: Promise<unknown>[] = [];
    for (let at = 0; at < r.length; at += WRITE_CHUNK) {
      const len = Math.min(WRITE_CHUNK, r.length - at);
      writes.push(disk.write(data, at, len, r.position + at));
      calls++;
    }
    for (const w of await Promise.all(writes))
      written += (w as { bytesWritten: number }).bytesWritten;
  }
  await disk.flush();
  const mismatches: Mismatch[] = [];
  let verified = 0;
  let bad = 0;
  for (const r of regions) {
    const back = new Uint8Array(r.length);
    const { bytesRead } = await disk.read(back, 0, r.length, r.position);
    verified += bytesRead;
    bad += compare(back.subarray(0, bytesRead), r.position, patternByte, mismatches);
    if (bytesRead !== r.length) bad += r.length - bytesRead;
  }
  return {
    diskBytes: disk.size,
    sectorSize: disk.sectorSize,
    bytesWritten: written,
    bytesVerified: verified,
    writeCalls: calls,
    mismatchCount: bad,
    mismatches,
  };
}
