// The host's xenstored times out the watch events a guest leaves unread (cxenstored 4.17: 20 s,
// XSA-326), in the host's virtual time: a guest that stops reading its xenstore ring does not
// pile up events for ever. The guest here speaks raw xs_wire over its ring, and does not read
// until 30 s of virtual time have passed.
import { describe, expect, it } from "vitest";
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import {
  ByteRingReader,
  ByteRingWriter,
  xenstoreRequestRing,
  xenstoreResponseRing,
} from "@pvkit/guest-sdk";
import { evtchnSend } from "@pvkit/guest-sdk/hypercall";
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
    new ByteRingWriter(ring, xenstoreRequestRing).write(
      encodeXsMessage({ type: XS.XS_WATCH, req_id: 1, tx_id: 0, payload: bytes(`${dir}\0tok\0`) }),
    );
    evtchnSend(g.hypercall, port);
    await host().hv.settle();
    const dom0 = host().openXenstore();
    for (let k = 0; k < EVENTS; k++) dom0.write(`${dir}/k${String(k).padStart(2, "0")}`, "v"); // distinct paths: no dedup
    const t0 = host().hv.now;
    await host().hv.settle();
    host().hv.advance(30_000_000_000); // past the 20 s timeout
    await host().hv.settle();
    expect(host().hv.now - t0).toBe(30_000_000_000);

    // Now the guest reads everything there is, telling xenstored after each pass.
    const rsp = new ByteRingReader(ring, xenstoreResponseRing);
    const msgs = new XsMessageParser();
    const seen: number[] = [];
    const paths: string[] = [];
    for (let pass = 0; pass < 100; pass++) {
      const n = rsp.available;
      if (n === 0) break;
      msgs.push(rsp.peek(n));
      rsp.advance(n);
      evtchnSend(g.hypercall, port);
      await host().hv.settle();
    }
    for (let m = msgs.next(); m !== undefined; m = msgs.next()) {
      if (typeof m === "symbol") continue;
      seen.push(m.type);
      if (m.type === XS.XS_WATCH_EVENT)
        paths.push(Buffer.from(m.payload).toString("latin1").split("\0")[0]!);
    }
    // The WATCH's reply and initial event, and the 22 events of k00..k21 that fitted in the
    // 1024-byte ring (45 bytes each) arrived; k22..k39 timed out in xenstored's queue (without the
    // timeout they would follow as the guest frees ring space).
    const fitted = Array.from({ length: 22 }, (_, k) => `${dir}/k${String(k).padStart(2, "0")}`);
    expect(seen).toEqual([XS.XS_WATCH, ...Array<number>(23).fill(XS.XS_WATCH_EVENT)]);
    expect(paths).toEqual([dir, ...fitted]);
    dom0.conn.close();
  });
});
