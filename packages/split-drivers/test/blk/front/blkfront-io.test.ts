// blkfront I/O against the raw backend: data verified through the sector, byte and stream
// interfaces, splitting into segments and indirect requests, queue depth, checks before the ring.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { connected, pattern, teardown } from "./helpers.js";

describe("blkfront I/O", () => {
  const host = useHost();

  it("writes sectors and reads them back, the backend storage holding the bytes", async () => {
    const r = await connected(host());
    const data = pattern(4096, 1);
    await r.until(r.disk.writeSectors(8, data));
    expect(Buffer.from(r.be.storage.subarray(8 * 512, 8 * 512 + 4096)).equals(Buffer.from(data))).toBe(true);
    const back = await r.until(r.disk.readSectors(8, 8));
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(r.disk.size).toBe(8192 * 512);
    expect(r.disk.sectorSize).toBe(512);
    await teardown(r);
  });
});
