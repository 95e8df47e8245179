import { describe, expect, it } from "vitest";
import { XS } from "@pvkit/hypervisor-sim/abi";
import { expectCode, setup } from "./helpers.js";

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
});
