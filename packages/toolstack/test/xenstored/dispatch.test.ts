// process_message's checks, made before any handler runs, in cxenstored 4.17's order.
import { describe, expect, it } from "vitest";
import { Xenstored } from "@pvkit/toolstack";
import { raw, setup, text } from "./helpers.js";
import { encodeXsMessage, XS } from "@pvkit/hypervisor-sim/abi";

describe("dispatch", () => {
  it("answers ENOSYS to an unknown type, the removed XS_RESTRICT (20) and 4.21's GET_FEATURE (23)", () => {
    const { xs } = setup();
    const c = xs.connect();
    for (const t of [20, 23, 24, 99, 0xffff]) {
      const [m] = raw(c, t, "x\0", 0, 5);
      expect(m!.type).toBe(XS.XS_ERROR);
      expect(m!.req_id).toBe(5);
      expect(text(m)).toBe("ENOSYS\0");
    }
  });
  it("answers ENOSYS to WATCH_EVENT and ERROR sent by a client", () => {
    const { xs } = setup();
    const c = xs.connect();
    expect(text(raw(c, XS.XS_WATCH_EVENT, "/a\0t\0")[0])).toBe("ENOSYS\0");
    expect(text(raw(c, XS.XS_ERROR, "EINVAL\0")[0])).toBe("ENOSYS\0");
  });
  it("answers EACCES to privileged-only types from an unprivileged domain, before looking at tx_id", () => {
    const { domU } = setup();
    const u = domU(3);
    for (const t of [
      XS.XS_CONTROL,
      XS.XS_INTRODUCE,
      XS.XS_RELEASE,
      XS.XS_IS_DOMAIN_INTRODUCED,
      XS.XS_RESUME,
      XS.XS_SET_TARGET,
    ]) {
      expect(text(raw(u.conn, t, "3\0", 77)[0])).toBe("EACCES\0");
    }
  });
  it("answers ENOENT to a non-zero tx_id naming no transaction, echoing the tx_id", () => {
    const { xs } = setup();
    const [m] = raw(xs.connect(), XS.XS_READ, "/tool\0", 9);
    expect(text(m)).toBe("ENOENT\0");
    expect(m!.tx_id).toBe(9);
  });
  it("ignores tx_id for WATCH and UNWATCH", () => {
    const { xs } = setup();
    const c = xs.connect();
    expect(text(raw(c, XS.XS_WATCH, "/tool\0t\0", 9)[0])).toBe("OK\0");
    expect(text(raw(c, XS.XS_UNWATCH, "/tool\0t\0", 9)[0])).toBe("OK\0");
  });
  it("replies in request order when several requests arrive in one chunk", () => {
    const { xs, dom0 } = setup();
    dom0.write("/x", "1");
    const c = xs.connect();
    const bytes = Buffer.concat(
      [
        { type: XS.XS_READ, req_id: 1, tx_id: 0, payload: Buffer.from("/x\0") },
        { type: XS.XS_READ, req_id: 2, tx_id: 0, payload: Buffer.from("/missing\0") },
        { type: XS.XS_DIRECTORY, req_id: 3, tx_id: 0, payload: Buffer.from("/\0") },
      ].map((m) => encodeXsMessage({ ...m, payload: new Uint8Array(m.payload) })),
    );
    c.receive(new Uint8Array(bytes));
    const out = c.takeAll();
    expect(out.map((m) => [m.req_id, m.type])).toEqual([
      [1, XS.XS_READ],
      [2, XS.XS_ERROR],
      [3, XS.XS_DIRECTORY],
    ]);
  });
  it("reports a handler bug as EIO to the client and as an internal-error event", () => {
    const { xs } = setup();
    const c = xs.connect();
    const seen: unknown[] = [];
    xs.on("internal-error", (e) => seen.push(e));
    // A hook that throws stands in for a bug below the handler.
    const broken = new Xenstored({
      hooks: {
        connectDomain: () => {
          throw new Error("boom");
        },
      },
    });
    const errs: unknown[] = [];
    broken.on("internal-error", (e) => errs.push(e));
    const bc = broken.connect();
    expect(text(raw(bc, XS.XS_INTRODUCE, "3\x005\x006\0")[0])).toBe("EIO\0");
    expect(errs).toHaveLength(1);
    expect(text(raw(c, XS.XS_READ, "/tool\0")[0])).toBe("");
    expect(seen).toHaveLength(0);
  });
});
