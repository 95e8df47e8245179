// Golden bytes: the control block and event words after a known sequence, checked byte for byte
// against the layouts of `event_channel.h` (`struct evtchn_fifo_control_block`, event_word_t).
import { describe, expect, it } from "vitest";
import { EVTCHNOP } from "@pvkit/hypervisor-sim/abi";
import { FifoGuest } from "./fifo-consumer.js";
import { connect, send, world } from "./support.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("FIFO golden bytes", () => {
  it("writes ready, head[] and the event words exactly as Xen would after a known sequence", () => {
    const {
      dom0,
      domUs: [u],
    } = world({ vcpus: 2 });
    const pairs = [1, 2, 3, 4].map(() => connect(u!, dom0)); // domU ports 1..4, not pending
    expect(pairs.map(([p]) => p)).toEqual([1, 2, 3, 4]);
    const f = new FifoGuest(u!, { offset: 64 }).setup(); // Linux: new page words all MASKED
    for (const p of [1, 2, 3]) expect(f.unmask(p)).toBe(0); // not pending: cleared locally
    expect(
      u!.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_set_priority, { port: 3, priority: 3 }),
    ).toBe(0);
    for (const [, peer] of pairs) expect(send(dom0, peer)).toBe(0);

    const cb = f.cb(0).read(0, 4096);
    expect(hex(cb.subarray(0, 64))).toBe("00".repeat(64));
    expect(hex(cb.subarray(64, 64 + 72))).toBe(
      "88000000" + // ready: bits 3 and 7
        "00000000" + // _rsvd
        "00000000".repeat(3) + // head[0..2]
        "03000000" + // head[3] = port 3
        "00000000".repeat(3) + // head[4..6]
        "01000000" + // head[7] = port 1 (port 2 is linked behind it)
        "00000000".repeat(8), // head[8..15]
    );
    expect(hex(cb.subarray(64 + 72))).toBe("00".repeat(4096 - 136));
    expect(hex(f.cb(1).read(0, 4096))).toBe("00".repeat(4096)); // vCPU 1 got nothing

    const words = f.arrayPages[0]!.read(0, 24);
    expect(hex(words)).toBe(
      "00000040" + // port 0: MASKED (Linux's fill; never raised)
        "020000a0" + // port 1: PENDING | LINKED, LINK = 2
        "000000a0" + // port 2: PENDING | LINKED, end of queue 7
        "000000a0" + // port 3: PENDING | LINKED, alone on queue 3
        "000000c0" + // port 4: PENDING | MASKED, not linked
        "00000040", // port 5: untouched
    );
  });

  it("leaves LINKED and LINK zero after the guest consumes, with PENDING cleared by the handler", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    const [[a, pa], [b, pb]] = [connect(u!, dom0), connect(u!, dom0)];
    const f = new FifoGuest(u!, { maskNewPages: false }).setup();
    send(dom0, pa!);
    send(dom0, pb!);
    expect(f.consume(0)).toEqual([a, b]);
    expect(hex(f.arrayPages[0]!.read(0, 12))).toBe("00".repeat(12));
    // ready is the guest's to clear (xchg); Xen's stale head[7] stays as it was written.
    expect(hex(f.cb(0).read(0, 8 + 4 * 8))).toBe(
      "00".repeat(8) + "00000000".repeat(7) + "01000000",
    );
  });
});
