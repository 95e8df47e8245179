import { describe, expect, it } from "vitest";
import { XS } from "@pvkit/hypervisor-sim/abi";
import { XsLocalClient } from "@pvkit/toolstack";
import { expectCode, setup } from "./helpers.js";

/**
 * Has `other` add a child to `dir` after each of the first `changes` DIRECTORY_PART replies
 * `client` gets (so the next part sees a new generation), and counts those requests. Past 1000
 * requests it stops changing, so a client that never gives up ends instead of spinning.
 */
function changingAfterParts(
  client: XsLocalClient,
  other: XsLocalClient,
  dir: string,
  changes: number,
): { parts: () => number } {
  let parts = 0;
  const request = client.request.bind(client);
  client.request = (type: number, payload: Uint8Array | string, tx = 0): Uint8Array => {
    const reply = request(type, payload, tx);
    if (type === XS.XS_DIRECTORY_PART && ++parts <= Math.min(changes, 1000))
      other.write(`${dir}/new-${parts}`, "");
    return reply;
  };
  return { parts: () => parts };
}

// A dom0 tool listing a directory larger than one reply (a backend/vbd with 1100 domUs):
// xenstored answers DIRECTORY with E2BIG, as cxenstored's send_reply does, and the client reads
// it with DIRECTORY_PART, as libxenstore's xs_directory does.
describe("XsLocalClient.directory", () => {
  const N = 1100;
  const names = Array.from({ length: N }, (_, i) => String(i + 1));

  it("lists a directory over 4096 bytes through DIRECTORY_PART", () => {
    const { dom0 } = setup();
    for (const n of names) dom0.write(`/local/domain/0/backend/vbd/${n}`, "");
    expectCode(() => dom0.request(XS.XS_DIRECTORY, "/local/domain/0/backend/vbd\0"), "E2BIG");
    expect(dom0.directory("/local/domain/0/backend/vbd")).toEqual(names);
  });

  it("lists it inside a transaction, and a small one with DIRECTORY alone", () => {
    const { dom0 } = setup();
    for (const n of names) dom0.write(`/big/${n}`, "");
    dom0.write("/small/a", "");
    const tx = dom0.transactionStart();
    dom0.write(`/big/${N + 1}`, "", tx);
    expect(dom0.directory("/big", tx)).toEqual([...names, String(N + 1)]);
    dom0.transactionEnd(tx, false);
    expect(dom0.directory("/big")).toEqual(names);
    expect(dom0.directory("/small")).toEqual(["a"]);
  });

  it("starts again when the directory changes between parts, and lists it once it holds still", () => {
    const { xs, dom0 } = setup();
    const other = new XsLocalClient(xs.connect()); // another tool, writing meanwhile
    for (const n of names) dom0.write(`/big/${n}`, "");
    // A child added after each of the first 3 parts. The listing takes two parts: a change after
    // the first (offset 0) makes the second see a new generation and start again; the one after
    // that restarting part is seen by the next offset-0 part itself. So 2 restarts, then a whole
    // listing with all three new names.
    const c = changingAfterParts(dom0, other, "/big", 3);
    const got = dom0.directory("/big");
    expect(got).toEqual([...names, "new-1", "new-2", "new-3"]);
    expect(c.parts()).toBe(2 + 2 + 2);
  });

  it("gives up with EAGAIN after 64 restarts of a directory that keeps changing", () => {
    const { xs, dom0 } = setup();
    const other = new XsLocalClient(xs.connect());
    for (const n of names) dom0.write(`/big/${n}`, "");
    const c = changingAfterParts(dom0, other, "/big", Number.POSITIVE_INFINITY);
    expectCode(() => dom0.directory("/big"), "EAGAIN");
    // 64 restarts allowed, the 65th refused: two parts each (offset 0, then the changed one).
    expect(c.parts()).toBe(2 * 65);
  });
});
