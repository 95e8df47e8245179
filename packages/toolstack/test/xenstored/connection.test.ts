// Byte-stream handling of a connection: split messages, and a request over 4096 bytes, which kills
// only its own connection.
import { describe, expect, it } from "vitest";
import { raw, setup, text } from "./helpers.js";
import { decodeXsMessages, encodeXsMessage, nulJoin, XS } from "@pvkit/hypervisor-sim/abi";

function header(type: number, len: number): Uint8Array {
  const h = new Uint8Array(16);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(12, len, true);
  return h;
}

describe("Connection", () => {
  it("reassembles requests that arrive one byte at a time", () => {
    const { xs } = setup();
    const c = xs.connect();
    const bytes = new Uint8Array([
      ...encodeXsMessage({
        type: XS.XS_WRITE,
        req_id: 1,
        tx_id: 0,
        payload: new Uint8Array([...nulJoin(["/b"]), 65]),
      }),
      ...encodeXsMessage({ type: XS.XS_READ, req_id: 2, tx_id: 0, payload: nulJoin(["/b"]) }),
    ]);
    for (const b of bytes) c.receive(new Uint8Array([b]));
    const out = decodeXsMessages(c.drainBytes());
    expect(out.map((m) => [m.req_id, text(m)])).toEqual([
      [1, "OK\0"],
      [2, "A"],
    ]);
  });
  it("accepts a request of exactly 4096 payload bytes", () => {
    const { xs } = setup();
    const c = xs.connect();
    const payload = new Uint8Array(4096).fill(0x61);
    payload[4095] = 0;
    expect(text(raw(c, XS.XS_READ, payload)[0])).toBe("EINVAL\0"); // a 4095-byte path: too long
    expect(c.closed).toBe(false);
  });
  it("closes a connection whose request header announces more than 4096 bytes, without a reply", () => {
    const { xs, dom0 } = setup();
    const bad = xs.connect();
    const reasons: string[] = [];
    bad.on("close", (r) => reasons.push(r));
    raw(bad, XS.XS_WATCH, "/w\0t\0");
    bad.receive(header(XS.XS_READ, 4097)); // the payload need not even arrive
    expect(bad.closed).toBe(true);
    expect(reasons).toEqual(["oversize"]);
    expect(bad.takeAll()).toEqual([]);
    bad.receive(
      encodeXsMessage({ type: XS.XS_READ, req_id: 0, tx_id: 0, payload: nulJoin(["/tool"]) }),
    );
    expect(bad.takeAll()).toEqual([]);
    // Others are unaffected, and the dead connection's watch is gone.
    dom0.write("/w", "1");
    expect(dom0.readString("/w")).toBe("1");
    expect(bad.watches).toEqual([]);
  });
  it("kills only the offending domain's ring connection", () => {
    const { xs, domU } = setup();
    const a = domU(3);
    const b = domU(4);
    a.conn.receive(header(XS.XS_READ, 0xffffffff));
    expect(a.conn.closeReason).toBe("oversize");
    expect(b.getDomainPath(4)).toBe("/local/domain/4");
    expect(xs.isIntroduced(3)).toBe(true); // still introduced until released or dead
  });
});
