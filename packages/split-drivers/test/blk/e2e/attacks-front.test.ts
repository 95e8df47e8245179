// Regression tests, one per known attack on a frontend, end to end: our blkfront in a domU
// against a scripted hostile blkback in dom0 (raw-blkback.ts: our blkback cannot be made to
// lie). The honest side — blkfront and its guest — survives each, reports it (the disk disabled
// with a typed reason, pending I/O rejected), and loses no write it acknowledged.
import { describe, expect, it } from "vitest";
import { BLKIF_OP } from "@pvkit/hypervisor-sim/abi";
import { GrantMapper } from "@pvkit/guest-sdk";
import { expectFinding, useHost } from "@pvkit/toolstack/testing";
import {
  type BlkifRequest,
  type BlkifSegment,
  BlkfrontError,
  type BlkfrontDisk,
  MemoryStorage,
} from "@pvkit/split-drivers";
import { type Rig, connected, teardown } from "../front/helpers.js";
import { XVDA, connectedPair, pattern, same, teardownPair } from "./pair.js";

type R = Rig & { disk: BlkfrontDisk };

/** An acknowledged write at sector 0, checked in the backend's storage after the attack. */
async function acknowledged(r: R): Promise<() => void> {
  const data = pattern(8192, 77);
  await r.until(r.disk.writeSectors(0, data), "the acknowledged write");
  return () => expect(same(r.be.storage.subarray(0, 8192), data)).toBe(true);
}

/** Two reads held by the backend, the lie, then both must fail with the disabling error. */
async function provoke(r: R, lie: () => void, firstAnswered = false): Promise<BlkfrontError> {
  r.be.hold = true;
  const first = r.disk.readSectors(16, 8).catch((e: unknown) => e);
  const second = r.disk.readSectors(24, 8).catch((e: unknown) => e);
  await r.until(r.be.idle());
  await r.h.hv.settle();
  lie();
  const [a, b] = await r.until(Promise.all([first, second]), "the pending reads settling");
  if (firstAnswered) expect(a).toBeInstanceOf(Uint8Array);
  expect(b).toBeInstanceOf(BlkfrontError);
  expect(r.disk.state).toBe("disabled");
  expect(r.disk.error).toBe(b);
  await expect(r.disk.writeSectors(0, new Uint8Array(512))).rejects.toMatchObject({
    reason: "disabled",
  });
  return b as BlkfrontError;
}

const sameOperation = (_type: string, q: unknown, r: unknown): string | undefined => {
  const [want, got] = [
    (q as { operation: number }).operation,
    (r as { operation: number }).operation,
  ];
  return got !== want ? `operation ${got} answers a request of operation ${want}` : undefined;
};

describe("blk e2e attacks on blkfront", () => {
  const host = useHost({ sanitizer: { checkResponse: sameOperation } });

  it("XSA-332 and XSA-391, frontend side: 10^5 events from the backend with nothing on the ring leave blkfront connected and serving", async () => {
    const r = await connected(host());
    expectFinding(r.h, "notify-storm"); // the backend's storm is the point of the test
    const check = await acknowledged(r);
    const q = r.disk.queues[0]!;
    const responses = q.stats.responses;
    for (let i = 1; i <= 100_000; i++) {
      r.be.rings[0]!.ch.notify();
      if (i % 1000 === 0) await r.h.hv.settle();
    }
    await r.h.hv.settle();
    expect(q.stats.responses).toBe(responses);
    expect(r.disk.state).toBe("connected");
    const data = pattern(4096, 78);
    await r.until(r.disk.writeSectors(64, data), "a write after the storm");
    expect(same(await r.until(r.disk.readSectors(64, 8)), data)).toBe(true);
    check();
    await teardown(r);
  });

  it("XSA-349, frontend side: the backend's state rewritten 10^5 times leaves blkfront connected with at most one pending run per watch", async () => {
    const storage = new MemoryStorage({ bytes: 1 << 20 });
    const p = await connectedPair(host(), { storage, vcpus: 1 });
    const data = pattern(4096, 79);
    await p.until(p.disk.writeSectors(0, data), "the acknowledged write");
    const before = { ...p.bus.stats };
    const w = p.h.openXenstore();
    for (let i = 0; i < 100_000; i++) {
      w.write(`/local/domain/0/backend/vbd/${p.dom.domid}/${XVDA}/state`, "4");
      await Promise.resolve();
    }
    w.conn.close();
    await p.h.hv.settle();
    // The guest's xenstore ring carries far fewer events than writes (15 in this run); each runs
    // the walk at most once more, and a Connected rewrite of an unchanged size is no resize.
    const events = p.bus.stats.events - before.events;
    expect(events).toBe(15);
    expect(p.bus.stats.maxBacklog).toBe(1);
    expect([p.disk.state, p.disk.stats.connections]).toEqual(["connected", 1]);
    const more = pattern(4096, 80);
    await p.until(p.disk.writeSectors(8, more), "a write after");
    expect(
      same(
        await p.until(p.disk.readSectors(0, 16), "reading both back"),
        new Uint8Array([...data, ...more]),
      ),
    ).toBe(true);
    await teardownPair(p);
  }, 30_000);

  it("XSA-396: a backend that keeps a non-persistent grant mapped after responding disables the device, and blkfront neither reuses nor ends the grant until it is unmapped", async () => {
    const r = await connected(host(), { back: { keepMapped: true } });
    expect(r.disk.features.persistent).toBe(false);
    const grants = r.bus.env.grants;
    const read = r.disk.readSectors(8, 8).catch((e: unknown) => e);
    const e = (await r.until(read, "the read")) as BlkfrontError;
    expect(e).toBeInstanceOf(BlkfrontError);
    expect(e.reason).toBe("grant-still-mapped");
    expect(e.message).toMatch(/^device\/vbd\/51712: queue 0: backed has not unmapped grant: \d+$/);
    expect(r.disk.state).toBe("disabled");
    expect(grants.deferred).toBe(1); // ending it is deferred: the page stays out of use
    const req = r.be.requests[0] as Extract<BlkifRequest, { kind: "rw" }>;
    expect(e.message.endsWith(`: ${req.seg[0]!.gref}`)).toBe(true);
    await expect(r.disk.readSectors(0, 8)).rejects.toMatchObject({ reason: "disabled", cause: e });
    r.be.unmapKept();
    grants.retryDeferred();
    expect(grants.deferred).toBe(0);
    await teardown(r);
  });

  it.each([false, true])(
    "XSA-403: a granted page holds only the request's data or zeros, for reads and writes, fresh and reused pages (persistent grants: %s)",
    async (persistent) => {
      {
        const r = await connected(host(), {
          back: { connectKeys: { "feature-persistent": persistent ? 1 : 0 } },
        });
        expect(r.disk.features.persistent).toBe(persistent);
        const spy = new GrantMapper(r.h.dom0.guest);
        const problems: string[] = [];
        const written = new Map<number, Uint8Array>();
        // Look at every whole granted page before the backend answers (the request's data is in it
        // for a write, the backend's for a read); anything else but zeros is a leak.
        r.be.respond = (req, rsp) => {
          if (req.kind !== "rw" || req.operation > 1) return [rsp];
          let at = req.sector_number * 512;
          for (const s of req.seg as BlkifSegment[]) {
            const m = spy.mapOne(s.gref, r.dom.domid, { readonly: true });
            const page = m.page.read(0, 4096);
            m.unmap();
            const lo = s.first_sect * 512;
            const hi = (s.last_sect + 1) * 512;
            const want = r.be.storage.subarray(at, at + hi - lo);
            if (!same(page.subarray(lo, hi), want))
              problems.push(`gref ${s.gref}: the segment is not the request's data`);
            if (page.subarray(0, lo).some((x) => x !== 0) || page.subarray(hi).some((x) => x !== 0))
              problems.push(
                `gref ${s.gref}: bytes outside sectors ${s.first_sect}..${s.last_sect} are not zero`,
              );
            at += hi - lo;
          }
          return [rsp];
        };
        // Writes and reads of every partial-page length, reusing the guest's pages between them.
        for (let n = 1; n <= 16; n++) {
          const data = pattern(n * 512, n);
          written.set(n, data);
          await r.until(r.disk.writeSectors(n * 32, data), "a write");
          expect(same(await r.until(r.disk.readSectors(n * 32, n)), data)).toBe(true);
          await r.until(
            r.disk.write(pattern(700, 100 + n), 0, 700, n * 32 * 512 + 100),
            "an unaligned write",
          );
        }
        expect(problems).toEqual([]);
        await teardown(r);
      }
    },
  );

  it.each([
    [
      "a response id out of range",
      "bad-response-id",
      "unknown-response-id",
      (r: R) => r.be.forge(0, 1, [{ id: 32, operation: BLKIF_OP.BLKIF_OP_READ, status: 0 }]),
      false,
    ],
    [
      "a duplicate response id",
      "response-not-pending",
      "unknown-response-id",
      (r: R) =>
        r.be.forge(0, 1, [
          { id: 1, operation: 0, status: 0 },
          { id: 1, operation: 0, status: 0 },
        ]),
      true,
    ],
    [
      "a response with the wrong operation",
      "wrong-operation",
      "bad-response",
      (r: R) => (
        (r.be.respond = (_q, rsp) => [{ ...rsp, operation: BLKIF_OP.BLKIF_OP_WRITE }]),
        r.be.release()
      ),
      false,
    ],
    [
      "rsp_prod past the requests outstanding",
      "ring-protocol",
      "ring-halted",
      (r: R) =>
        r.be.forge(
          0,
          1,
          [1, 2, 3].map((id) => ({ id, operation: 0, status: 0 })),
        ),
      false,
    ],
    [
      "rsp_prod overflowing the ring",
      "ring-protocol",
      "ring-halted",
      (r: R) => r.be.forge(0, 1, [], 1000),
      false,
    ],
  ] as const)(
    "hardening: %s disables the device, rejects pending I/O and keeps the acknowledged write",
    async (_name, reason, finding, lie, firstAnswered) => {
      const r = await connected(host());
      expectFinding(r.h, finding);
      const check = await acknowledged(r);
      const e = await provoke(r, () => lie(r), firstAnswered);
      expect(e.reason).toBe(reason);
      check();
      await teardown(r);
    },
  );
});
