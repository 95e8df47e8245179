// blk-pattern end to end through the test host: blkfront in a domU, blkback in dom0 on a real
// sparse image file in a temp dir, the pattern written, read back and found in the file by dom0;
// xvda unplugged as xl does and every domain leak-checked (withHost's teardown checks again).
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assertNoGuestLeaks, withHost } from "@pvkit/toolstack/testing";
import {
  IMAGE_BYTES,
  REGIONS,
  checkImage,
  createImage,
  patternByte,
  runBlkPattern,
} from "@pvkit/example-blk-pattern";

let dir: string;
let image: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvkit-blk-pattern-test-"));
  image = join(dir, "disk.img");
  await createImage(image, IMAGE_BYTES);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const PATTERN_BYTES = (1 << 20) + 1000;

describe("blk-pattern", () => {
  it("writes the pattern through blkfront and blkback, reads it back, and dom0 finds it in the image file", async () => {
    await withHost(async (h) => {
      const r = await runBlkPattern(h, { image });
      expect(r.guest).toEqual({
        diskBytes: IMAGE_BYTES,
        sectorSize: 512,
        bytesWritten: PATTERN_BYTES,
        bytesVerified: PATTERN_BYTES,
        writeCalls: 17,
        mismatchCount: 0,
        mismatches: [],
      });
      expect(r.image).toEqual({
        path: image,
        fileBytes: IMAGE_BYTES,
        bytesChecked: IMAGE_BYTES,
        patternBytes: PATTERN_BYTES,
        mismatchCount: 0,
        mismatches: [],
      });
      expect(r.unplug).toBe("closed");
      expect(r.errors).toEqual([]);
      await h.hv.settle();
      assertNoGuestLeaks(h);
    });
  });

  it("leaves the bytes around each region zero when the unaligned write is read-modify-write", async () => {
    await withHost(async (h) => {
      await runBlkPattern(h, { image });
    });
    const fh = await open(image, "r");
    try {
      const at = REGIONS[1]!.position;
      const buf = new Uint8Array(1000 + 2 * 77);
      await fh.read(buf, 0, buf.length, at - 77);
      expect([...buf.subarray(0, 77)]).toEqual(new Array(77).fill(0));
      expect(buf[77]).toBe(patternByte(at));
      expect(buf[77 + 999]).toBe(patternByte(at + 999));
      expect([...buf.subarray(77 + 1000)]).toEqual(new Array(77).fill(0));
    } finally {
      await fh.close();
    }
  });

  it("dom0's check names each byte that differs when the image file was changed afterwards", async () => {
    await withHost(async (h) => {
      await runBlkPattern(h, { image });
    });
    const inRegion = (1 << 20) + 5;
    const outside = 5 << 20;
    const fh = await open(image, "r+");
    try {
      await fh.write(Uint8Array.of(patternByte(inRegion) ^ 0xff), 0, 1, inRegion);
      await fh.write(Uint8Array.of(0x42), 0, 1, outside);
    } finally {
      await fh.close();
    }
    const c = await checkImage(image, REGIONS);
    expect(c.mismatchCount).toBe(2);
    expect(c.mismatches).toEqual([
      { offset: inRegion, expected: patternByte(inRegion), actual: patternByte(inRegion) ^ 0xff },
      { offset: outside, expected: 0, actual: 0x42 },
    ]);
  });
});
