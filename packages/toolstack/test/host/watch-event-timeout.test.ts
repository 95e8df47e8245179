// The host's xenstored times out the watch events a guest leaves unread (cxenstored 4.17: 20 s,
// XSA-326), in the host's virtual time: a guest that stops reading its xenstore ring does not
// pile up events for ever. The guest here speaks raw xs_wire over its ring, and does not read
// until 30 s of virtual time have passed.
import { describe, expect, it } from "vitest";
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import {
  ByteRingReader,
  ByteRingWriter,
  evtchnSend,
  xenstoreRequestRing,
  xenstoreResponseRing,
} from "@pvkit/guest-sdk";
import { useHost } from "@pvkit/toolstack/testing";
import { encodeXsMessage, XS, XsMessageParser } from "@pvkit/hypervisor-sim/abi";

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"));
const EVENTS = 40;

describe("watch events left unread", () => {
  const host = useHost();

  it("are dropped after 20 s of virtual time; what the ring already held is still delivered", async () => {
    let g!: Guest;
    let ring!: Page;
    let port = 0;
    const d = await host().createDomain({
      name: "deaf",
      main: (ctx) => {
        g = ctx.guest;
        ring = ctx.guest.memory.writablePage(ctx.startInfo.store_mfn);
        port = ctx.startInfo.store_evtchn;
      },
    });
    await d.done;
    const dir = `/local/domain/${d.domid}/data`;
    // The guest watches its data/ directory and then reads nothing.
    new ByteRingWriter(ring, xenstoreRequestRing).write(encodeXsMessage({ type: XS.XS_WATCH, req_id: 1, tx_id: 0, payload: bytes(`${dir}\0tok\0`) }));
    evtchnSend(g.hypercall, port);
    await host().hv.settle();
    const dom0 = host().openXenstore();
    for (let k = 0; k < EVENTS; k++) dom0.write(`${dir}/k${String(k).padStart(2, "0")}`, "v"); // distinct paths: no dedup
    const t0 = host().hv.now;
    await host().hv.settle(); // idle: virtual time runs on to the timeout
    host().hv.advance(30_000_000_000);
    await host().hv.settle();
    expect(host().hv.now - t0).toBeGreaterThanOrEqual(20_000_000_000);

    // Now the guest reads everything there is, telling xenstored after each pass.
    const rsp = new ByteRingReader(ring, xenstoreResponseRing);
    const msgs = new XsMessageParser();
    const seen: number[] = [];
    for (let pass = 0; pass < 100; pass++) {
      const n = rsp.available;
      if (n === 0) break;
      msgs.push(rsp.peek(n));
      rsp.advance(n);
      evtchnSend(g.hypercall, port);
      await host().hv.settle();
    }
    for (let m = msgs.next(); m !== undefined; m = msgs.next()) if (typeof m !== "symbol") seen.push(m.type);
    const events = seen.filter((t) => t === XS.XS_WATCH_EVENT).length;
    expect(seen[0]).toBe(XS.XS_WATCH);
    // The WATCH's initial event and what fitted in the 1024-byte ring arrived; the rest timed out.
    expect(events).toBeGreaterThan(1);
    expect(events).toBeLessThan(EVENTS + 1);
    dom0.conn.close();
  });
});
