// blkback failing to map the frontend's ring (a grant map fault on dom0's first maps): as in
// Linux's connect_ring → xenbus_dev_fatal, the backend gives up with an error node and Closing,
// and blkfront's disk() rejects with a typed error instead of waiting for ever.
import { expect, it } from "vitest";
import { createTestHost } from "@pvkit/toolstack/testing";
import { BlkfrontError } from "@pvkit/split-drivers";
import { XVDA, pair, readNode } from "./pair.js";

it("rejects disk() with a typed error when blkback cannot map the ring", async () => {
  const t = await createTestHost({
    seed: 3,
    faults: { grantMapFailure: { nth: [3], status: "GNTST_eagain", mapper: 0 } },
  });
  const p = await pair(t.host, { vcpus: 1 });
  const err = await p.until(
    p.blk.disk(XVDA).catch((e: unknown) => e),
    "disk() settling",
  );
  expect(err).toBeInstanceOf(BlkfrontError);
  expect((err as BlkfrontError).reason).toBe("disconnected");
  const be = `/local/domain/0/backend/vbd/${p.dom.domid}/${XVDA}`;
  expect(
    readNode(t.host, `/local/domain/0/error/backend/vbd/${p.dom.domid}/${XVDA}/error`),
  ).toMatch(/mapping ring-ref/);
  expect(readNode(t.host, `${be}/state`)).toMatch(/^[56]$/);
  await p.until(p.bus.close(), "the guest bus closing");
  await p.until(p.served.close(), "blkback closing");
  p.xs.close();
  await t.finish();
});
