// The write rate limit of cxenstored 4.17 (wrl_* in xenstored_domain.c), on virtual time: while
// some transaction is open, each node an unprivileged domain writes costs one write of credit;
// a domain starts with a burst of 10, earns 200 writes/s shared by the introduced domains (dom0
// included), and its ring is not read while its credit is negative.
import { describe, expect, it } from "vitest";
import { ringHost, run, type RingGuest } from "./ring-fixture.js";
import { encodeXsMessage, XS } from "@pvkit/hypervisor-sim/abi";

const MS = 1_000_000;

const enc = (type: number, payload: string, req_id = 0, tx_id = 0): Uint8Array =>
  encodeXsMessage({ type, req_id, tx_id, payload: new Uint8Array(Buffer.from(payload, "latin1")) });

/** Queues requests in the guest's ring and notifies once. */
function queue(g: RingGuest, reqs: Uint8Array[]): void {
  for (const r of reqs) if (g.req.write(r) !== r.length) throw new Error("request ring full");
  g.send(new Uint8Array(0));
}

/** A host with dom0, writer guest `g` owning `k`, and `idle` more guests. */
function limitedHost(idle: number) {
  const host = ringHost();
  const g = host.addGuest();
  for (let i = 0; i < idle; i++) host.addGuest();
  host.dom0.write(`/local/domain/${g.domid}/k`, "0");
  return { ...host, g };
}

describe("write rate limit (wrl_*)", () => {
  it("does not charge writes while no transaction is open", () => {
    const { hv, g } = limitedHost(0);
    queue(
      g,
      Array.from({ length: 40 }, (_, i) => enc(XS.XS_WRITE, "k\0v", i)),
    );
    run(hv);
    expect(g.transport.requestsHandled).toBe(40);
  });

  it("stops reading a domain after its burst of 10 writes while a transaction is open, then reads one write per 1000 ms × ndomains / 200", () => {
    // dom0, the writer and one idle guest: 3 domains share the rate, so one write per 15 ms.
    const { hv, dom0, g } = limitedHost(1);
    const tx = dom0.transactionStart();
    const t0 = hv.scheduler.now;
    queue(
      g,
      Array.from({ length: 20 }, (_, i) => enc(XS.XS_WRITE, "k\0v", i)),
    );
    run(hv);
    // The burst (credit 10 000) pays for 10; the 11th takes the credit to -1000.
    expect(g.transport.requestsHandled).toBe(11);
    expect(hv.scheduler.now).toBe(t0);
    hv.advance(15 * MS - 1);
    expect(g.transport.requestsHandled).toBe(11);
    hv.advance(1);
    expect(g.transport.requestsHandled).toBe(12);
    hv.advance(15 * MS);
    expect(g.transport.requestsHandled).toBe(13);
    // Once no transaction is open, writes are free again: the rest goes when the debt is paid.
    dom0.transactionEnd(tx, false);
    hv.advance(15 * MS);
    expect(g.transport.requestsHandled).toBe(20);
  });

  it("charges each node written: a WRITE creating a node costs two (the node and its parent)", () => {
    // dom0 and the writer: one write per 10 ms; 5 creations use the burst, the 6th goes to -2000.
    const { hv, dom0, g } = limitedHost(0);
    dom0.transactionStart();
    queue(
      g,
      Array.from({ length: 8 }, (_, i) => enc(XS.XS_WRITE, `n${i}\0v`, i)),
    );
    run(hv);
    expect(g.transport.requestsHandled).toBe(6);
    hv.advance(20 * MS - 1);
    expect(g.transport.requestsHandled).toBe(6);
    hv.advance(1);
    expect(g.transport.requestsHandled).toBe(7);
  });

  it("charges a transaction at its commit only if another transaction is open (wrl_apply_debit_trans_commit)", () => {
    const { hv, dom0, g } = limitedHost(0);
    const txns = (first: number, n: number) =>
      Array.from({ length: n }, (_, i) => [
        enc(XS.XS_TRANSACTION_START, "\0"),
        enc(XS.XS_WRITE, "k\0v", 0, first + i),
        enc(XS.XS_TRANSACTION_END, "T\0", 0, first + i),
      ]).flat();
    // Alone, the guest's own transaction is "the only one": nothing is charged.
    queue(g, txns(1, 12));
    run(hv);
    expect(g.transport.requestsHandled).toBe(36);
    g.drain();
    // With dom0's open, each commit costs one write: 11 commits, then the ring waits 10 ms.
    dom0.transactionStart();
    queue(g, txns(13, 12));
    run(hv);
    expect(g.transport.requestsHandled).toBe(36 + 33);
    hv.advance(10 * MS);
    expect(g.transport.requestsHandled).toBe(36 + 36);
  });
});
