// blkif_recover: a backend restart (Closing → Closed → InitWait → Connected) with I/O in flight.
// Requests never answered are re-issued on the new connection; nothing acknowledged is lost and
// nothing completes twice.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { connected, pattern, teardown } from "./helpers.js";

describe("blkfront recovery", () => {
  const host = useHost();

  it("re-issues requests in flight across a backend restart: nothing acknowledged lost, nothing twice", async () => {
    const r = await connected(host());
    await r.until(r.disk.writeSectors(0, pattern(4096, 1)));
    r.be.hold = true;
    let done = 0;
    const writes = Array.from({ length: 40 }, (_, i) =>
      r.disk.writeSectors(8 + i * 8, pattern(4096, 100 + i)).then(() => void done++),
    );
    await r.until(r.be.idle());
    await r.h.hv.settle();
    expect(r.disk.inFlight).toBe(32);
    r.be.hold = false;
    r.be.restart();
    const recovered = new Promise<number>((res) => r.disk.once("recovered", res));
    expect(await r.until(recovered, "the disk recovering")).toBe(32);
    await r.until(Promise.all(writes), "the writes after the restart");
    expect(done).toBe(40);
    expect(r.disk.stats.connections).toBe(2);
    for (let i = 0; i < 40; i++)
      expect(
        Buffer.from(r.be.storage.subarray((8 + i * 8) * 512, (16 + i * 8) * 512)).equals(
          Buffer.from(pattern(4096, 100 + i)),
        ),
      ).toBe(true);
    expect(Buffer.from(r.be.storage.subarray(0, 4096)).equals(Buffer.from(pattern(4096, 1)))).toBe(
      true,
    );
    await teardown(r);
  });
});
