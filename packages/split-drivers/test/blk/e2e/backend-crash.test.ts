// Fault injection "a backend crashes and restarts" (restartBackendDriver / restartDriverDomain of
// @pvkit/toolstack/testing) against the real blk pair, with I/O in flight, the sanitizer on and
// the leak checks of every domain at teardown:
// - driver only: blkback in dom0 dies without a word (no Closing; its ring mapping, persistent
//   grants and port dropped), the toolstack resets the backend directory to Initialising, and a
//   fresh blkback takes it over;
// - driver domain: the domain running blkback is destroyed, a new one is built, and xvda is
//   re-attached against it as libxl would.
// blkfront recovers (blkif_recover): nothing acknowledged lost, nothing completed twice.
import { describe, expect, it } from "vitest";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import { detachDevice } from "@pvkit/toolstack";
import {
  readNode,
  restartBackendDriver,
  restartDriverDomain,
  useHost,
} from "@pvkit/toolstack/testing";
import { MemoryStorage } from "@pvkit/split-drivers";
import { driverDomain } from "./crash-scenario.js";
import { GatedStorage } from "./gated-storage.js";
import { XVDA, connectedPair, pattern, same, serve, teardownPair } from "./pair.js";

const S = XenbusState;

describe("blk e2e: blkback crashes and restarts (driver only)", () => {
  const host = useHost();

  it("re-issues what the dead blkback held, once each, and keeps every acknowledged write", async () => {
    const h = host();
    const mem = new MemoryStorage({ bytes: 1 << 20 });
    const storage = new GatedStorage(mem);
    const p = await connectedPair(h, { storage, vcpus: 1 });
    const acked = pattern(8192, 1);
    await p.until(p.disk.writeSectors(0, acked), "the acknowledged write");
    storage.shut();
    const settled: string[] = [];
    const writes = Array.from({ length: 40 }, (_, i) =>
      p.disk
        .writeSectors(16 + i * 8, pattern(4096, 100 + i))
        .then(() => void settled.push(`w${i}`)),
    );
    const reads = Array.from({ length: 4 }, (_, i) =>
      p.disk.readSectors(i * 4, 4).then((b) => (settled.push(`r${i}`), b)),
    );
    await h.hv.settle();
    expect([storage.held, p.disk.inFlight]).toEqual([32, 32]);
    const recovered = new Promise<number>((r) => p.disk.once("recovered", r));
    const backend = `/local/domain/0/backend/vbd/${p.dom.domid}/${XVDA}`;
    const restart = await p.until(
      restartBackendDriver(h, {
        types: ["vbd"],
        crash: () => {
          p.served.bus.crash();
          p.xs.close();
        },
        start: () => serve(h, { storage }),
      }),
      "the blkback restart",
    );
    // The dead blkback wrote nothing: the new one found Initialising, the frontend let go.
    expect(restart.devices).toEqual([backend]);
    expect(restart.frontendsLetGo).toBe(true);
    expect(p.disk.state).toBe("recovering");
    expect(settled).toEqual([]);
    Object.assign(p, restart.instance);
    expect(await p.until(recovered, "the disk recovering")).toBe(32);
    // The dead instance's held I/O reaches the storage too (the same data), but is never answered.
    storage.open();
    const got = await p.until(
      Promise.all([Promise.all(writes), Promise.all(reads)]),
      "the I/O after the restart",
    );
    expect(settled.length).toBe(44);
    expect(new Set(settled).size).toBe(44);
    got[1].forEach(
      (b, i) => void expect(same(b, acked.subarray(i * 2048, (i + 1) * 2048))).toBe(true),
    );
    expect([p.disk.stats.connections, p.disk.stats.reissued, p.disk.inFlight]).toEqual([2, 32, 0]);
    expect(readNode(h, `${backend}/state`)).toBe(String(S.XenbusStateConnected));
    const all = new Uint8Array(16 * 512 + 40 * 4096);
    await mem.read(0, all);
    expect(same(all.subarray(0, 8192), acked)).toBe(true);
    for (let i = 0; i < 40; i++)
      expect(
        same(all.subarray((16 + i * 8) * 512, (24 + i * 8) * 512), pattern(4096, 100 + i)),
      ).toBe(true);
    await teardownPair(p);
  });
});

describe("blk e2e: blkback's driver domain is destroyed and rebuilt", () => {
  const host = useHost();

  it("rebinds blkfront to the new driver domain's blkback and re-issues what was in flight", async () => {
    const h = host();
    const mem = new MemoryStorage({ bytes: 1 << 20 });
    const storage = new GatedStorage(mem);
    const dd = await driverDomain(h, "blk-dd", storage);
    const p = await connectedPair(h, { storage, vcpus: 1, vbd: { backend: dd.domid } });
    const acked = pattern(4096, 3);
    await p.until(p.disk.writeSectors(0, acked), "the acknowledged write");
    storage.shut();
    const settled: string[] = [];
    const writes = Array.from({ length: 8 }, (_, i) =>
      p.disk.writeSectors(8 + i * 8, pattern(4096, 200 + i)).then(() => void settled.push(`w${i}`)),
    );
    await h.hv.settle();
    expect(storage.held).toBe(8);
    const recovered = new Promise<number>((r) => p.disk.once("recovered", r));
    const r = await p.until(
      restartDriverDomain(h, {
        domid: dd.domid,
        build: () => driverDomain(h, "blk-dd2", storage),
        devices: [{ frontDomid: p.dom.domid, spec: { kind: "vbd", vdev: "xvda" } }],
      }),
      "the driver domain restart",
    );
    expect(r.reattached.map((d) => d.backend)).toEqual([
      `/local/domain/${r.built.domid}/backend/vbd/${p.dom.domid}/${XVDA}`,
    ]);
    expect(await p.until(recovered, "the disk recovering")).toBe(8);
    storage.open();
    await p.until(Promise.all(writes), "the writes after the restart");
    expect(new Set(settled).size).toBe(8);
    expect(readNode(h, `/local/domain/${p.dom.domid}/device/vbd/${XVDA}/backend-id`)).toBe(
      String(r.built.domid),
    );
    const back = await p.until(p.disk.readSectors(0, 72), "reading everything back");
    expect(same(back.subarray(0, 4096), acked)).toBe(true);
    for (let i = 0; i < 8; i++)
      expect(
        same(back.subarray((8 + i * 8) * 512, (16 + i * 8) * 512), pattern(4096, 200 + i)),
      ).toBe(true);
    expect(p.disk.stats.connections).toBe(2);
    // The pair's dom0 blkback served nothing; the new driver domain's bus closes before the checks.
    const removal = await p.until(detachDevice(h, p.dom.domid, "vbd", XVDA), "unplugging xvda");
    expect(removal.outcome).toBe("closed");
    await p.until(r.built.bus.close(), "the driver domain's bus closing");
    await teardownPair(p, { unplugged: true });
    await p.until(h.destroyDomain(r.built.domid), "destroying the driver domain");
  });
});
