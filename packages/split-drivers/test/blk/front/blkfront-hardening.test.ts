// blkfront against a backend that lies in its responses (the 2021 hardening of Linux's
// blkif_interrupt, and XSA-396): each case disables the device with its reason, rejects pending
// I/O, and the guest lives on (its bus tears down cleanly, nothing leaks).
import { describe, expect, it } from "vitest";
import { expectFinding, useHost } from "@pvkit/toolstack/testing";
import { BLKIF_OP } from "@pvkit/hypervisor-sim/abi";
import { BlkfrontError } from "@pvkit/split-drivers";
import { type Rig, connected, teardown } from "./helpers.js";

async function provoke(
  r: Rig & { disk: import("@pvkit/split-drivers").BlkfrontDisk },
  lie: () => void,
  firstAnswered = false,
): Promise<BlkfrontError> {
  r.be.hold = true;
  const first = r.disk.readSectors(0, 8).catch((e: unknown) => e);
  const second = r.disk.readSectors(8, 8).catch((e: unknown) => e);
  await r.until(r.be.idle());
  await r.h.hv.settle();
  lie();
  const [x, b] = await r.until(Promise.all([first, second]), "the pending reads settling");
  // A response that was valid before the lie completes its request; the rest are rejected.
  if (firstAnswered) expect(x).toBeInstanceOf(Uint8Array);
  const a = firstAnswered ? b : x;
  expect(a).toBeInstanceOf(BlkfrontError);
  expect(b).toBe(a);
  expect(r.disk.state).toBe("disabled");
  expect(r.disk.error).toBe(a);
  await expect(r.disk.readSectors(0, 1)).rejects.toMatchObject({ reason: "disabled", cause: a });
  return a as BlkfrontError;
}

/** blkif's rule that a response carries its request's operation (blkif_interrupt checks it too). */
const sameOperation = (_type: string, q: unknown, r: unknown): string | undefined => {
  const [want, got] = [
    (q as { operation: number }).operation,
    (r as { operation: number }).operation,
  ];
  return got !== want ? `operation ${got} answers a request of operation ${want}` : undefined;
};

// Each backend lies on purpose: the sanitizer stays on and must report the lie as well.
describe("blkfront hardening", () => {
  const host = useHost({ sanitizer: { checkResponse: sameOperation } });

  it("disables the device on a response id out of range", async () => {
    const r = await connected(host());
    expectFinding(r.h, "unknown-response-id");
    const e = await provoke(r, () =>
      r.be.forge(0, 0, [{ id: 32, operation: BLKIF_OP.BLKIF_OP_READ, status: 0 }]),
    );
    expect(e.reason).toBe("bad-response-id");
    expect(e.message).toBe(`device/vbd/51712: queue 0: response has incorrect id (32)`);
    await teardown(r);
  });

  it("disables the device on a duplicate response id", async () => {
    const r = await connected(host());
    expectFinding(r.h, "unknown-response-id");
    const e = await provoke(
      r,
      () =>
        r.be.forge(0, 0, [
          { id: 0, operation: 0, status: 0 },
          { id: 0, operation: 0, status: 0 },
        ]),
      true,
    );
    expect(e.reason).toBe("response-not-pending");
    expect(e.message).toBe(
      `device/vbd/51712: queue 0: response references no pending request (id 0)`,
    );
    await teardown(r);
  });

  it("disables the device on a response with the wrong operation", async () => {
    const r = await connected(host());
    expectFinding(r.h, "bad-response");
    r.be.respond = (_req, rsp) => [{ ...rsp, operation: BLKIF_OP.BLKIF_OP_WRITE }];
    const e = await provoke(r, () => r.be.release());
    expect(e.reason).toBe("wrong-operation");
    expect(e.message).toBe(
      `device/vbd/51712: queue 0: response has wrong operation (1 instead of 0)`,
    );
    await teardown(r);
  });

  it("disables the device when rsp_prod runs past the requests outstanding", async () => {
    const r = await connected(host());
    expectFinding(r.h, "ring-halted");
    const e = await provoke(r, () =>
      r.be.forge(
        0,
        0,
        [0, 1, 2].map((id) => ({ id, operation: 0, status: 0 })),
      ),
    );
    expect(e.reason).toBe("ring-protocol");
    expect(e.message).toMatch(/3 responses for 2 outstanding requests/);
    await teardown(r);
  });

  it("disables the device when rsp_prod overflows the ring (RING_RESPONSE_PROD_OVERFLOW)", async () => {
    const r = await connected(host());
    expectFinding(r.h, "ring-halted");
    const e = await provoke(r, () => r.be.forge(0, 0, [], 1000));
    expect(e.reason).toBe("ring-protocol");
    expect(e.message).toMatch(/RING_RESPONSE_PROD_OVERFLOW/);
    await teardown(r);
  });
});
