// blkfront under the sanitizer: every response is matched to the request blkfront issued with
// its id, bursts included (requests pushed without a notify and answered over their slots before
// anyone looks again), and a correct exchange yields no finding.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { connected, pattern, teardown } from "./helpers.js";

/** Every (type, request operation, response operation, id) the sanitizer matched. */
const matched: string[] = [];
const record = (type: string, q: unknown, r: unknown): undefined => {
  const [req, rsp] = [
    q as { operation: number; id: unknown },
    r as { operation: number; id: unknown },
  ];
  matched.push(
    `${type} op ${req.operation}->${rsp.operation} id ${String(req.id)}=${String(rsp.id)}`,
  );
  return undefined;
};

describe("blkfront under the sanitizer", () => {
  const host = useHost({ sanitizer: { checkResponse: record } });

  it("matches each response of a burst to the request blkfront issued with that id", async () => {
    matched.length = 0;
    const r = await connected(host());
    // Eight one-request writes at once: only a push crossing req_event notifies, and the backend
    // answers the batch over their slots before the frontend looks at the ring again.
    await r.until(
      Promise.all(
        Array.from({ length: 8 }, (_, i) => r.disk.writeSectors(i * 8, pattern(4096, i))),
      ),
      "the writes",
    );
    await r.until(
      Promise.all(Array.from({ length: 8 }, (_, i) => r.disk.readSectors(i * 8, 8))),
      "the reads",
    );
    expect(matched).toEqual([
      ...Array.from({ length: 8 }, (_, i) => `vbd op 1->1 id ${i}=${i}`),
      ...Array.from({ length: 8 }, (_, i) => `vbd op 0->0 id ${i + 8}=${i + 8}`),
    ]);
    await teardown(r);
  });
});
