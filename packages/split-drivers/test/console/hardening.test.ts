// The frontend against a hostile console backend (io/console.h: prod - cons > ring size is
// corrupt; hvc_xen's "Illegal ring page indices"): a typed halt, never garbage, never a hang.
import { describe, expect, it } from "vitest";
import {
  GNTMAP,
  GNTTAB_RESERVED_CONSOLE,
  XEN_PAGE_SHIFT,
  xencons_interface,
} from "@pvkit/hypervisor-sim/abi";
import { GNTTAB_GFN_BASE } from "@pvkit/hypervisor-sim";
import { mapGrantRefs, unmapGrantRefs } from "@pvkit/guest-sdk/hypercall";
import { createTestHost } from "@pvkit/toolstack/testing";
import type { Host } from "@pvkit/toolstack";
import { ConsoleError, ConsoleFront } from "@pvkit/split-drivers";
import { guestCtx } from "./helpers.js";

/** A hand-made backend in dom0: grant ref 0 mapped, the console port bound. */
function hostileBackend(host: Host, domid: number, port: number) {
  const g0 = host.dom0.guest;
  const gfn = GNTTAB_GFN_BASE - 50;
  const [op] = mapGrantRefs(g0.hypercall, [
    {
      host_addr: gfn << XEN_PAGE_SHIFT,
      flags: GNTMAP.GNTMAP_host_map,
      ref: GNTTAB_RESERVED_CONSOLE,
      dom: domid,
    },
  ]);
  const ch = host.dom0.events.bindInterdomain(domid, port);
  return {
    page: g0.memory.writablePage(gfn),
    notify: () => ch.notify(),
    release: () => {
      ch.close();
      unmapGrantRefs(g0.hypercall, [
        { host_addr: gfn << XEN_PAGE_SHIFT, dev_bus_addr: 0, handle: op!.handle! },
      ]);
    },
  };
}

describe("console frontend hardening", () => {
  it("halts with a ring-index error when the backend moves out_cons past out_prod", async () => {
    await using t = await createTestHost({ mode: "manual", xenconsoled: false }); // the test is the backend
    const { domid, ctx } = await guestCtx(t.host);
    const front = ConsoleFront.open(ctx);
    const be = hostileBackend(t.host, domid, front.port);
    expect(front.tryWrite("abc")).toBe(3);
    be.page.setU32(xencons_interface.out_cons[0], 0xffff_f000); // prod - cons = 0x1003 > 2048
    const err = (() => {
      try {
        front.tryWrite("more");
      } catch (e) {
        return e;
      }
    })() as ConsoleError;
    expect(err).toBeInstanceOf(ConsoleError);
    expect(err.code).toBe("ERR_CONSOLE_RING_INDEX");
    expect(err.fault).toEqual({
      reason: "ring-index",
      ring: "out",
      prod: 3,
      cons: 0xffff_f000,
      size: 2048,
    });
    expect(front.halted).toBe(err);
    await expect(front.write("x")).rejects.toBe(err);
    // Nothing was written after the fault: out_prod stays 3, out[3..] untouched.
    expect(be.page.getU32(xencons_interface.out_prod[0])).toBe(3);
    expect(be.page.getU8(xencons_interface.out[0] + 3)).toBe(0);
    be.release();
    front.destroy();
    await t.finish();
  });

  it("halts on a corrupt in_prod, errors input$ and destroys the stream, and ignores later events", async () => {
    await using t = await createTestHost({ mode: "manual", xenconsoled: false }); // the test is the backend
    const { domid, ctx } = await guestCtx(t.host);
    const front = ConsoleFront.open(ctx);
    const be = hostileBackend(t.host, domid, front.port);
    const errors: unknown[] = [];
    const got: Uint8Array[] = [];
    front.input$.subscribe({ next: (b) => got.push(b), error: (e) => errors.push(e) });
    const stream = front.stream();
    const streamErr = new Promise((r) => stream.on("error", r));
    be.page.setU32(xencons_interface.in_prod[0], 1025); // prod - cons = 1025 > 1024
    be.notify();
    t.host.hv.scheduler.runUntilIdle();
    await t.host.hv.settle();
    expect(got).toEqual([]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as ConsoleError).fault).toEqual({
      reason: "ring-index",
      ring: "in",
      prod: 1025,
      cons: 0,
      size: 1024,
    });
    expect(await streamErr).toBe(errors[0]);
    // A flood of events afterwards is not even looked at (the port stays masked).
    const before = front.stats.events;
    for (let i = 0; i < 50; i++) {
      be.notify();
      t.host.hv.scheduler.runUntilIdle();
    }
    expect(front.stats.events).toBe(before);
    expect(be.page.getU32(xencons_interface.in_cons[0])).toBe(0);
    be.release();
    front.destroy();
    await t.finish();
  });

  it("rejects a write at once with output-full when the backend never consumes, instead of waiting forever", async () => {
    await using t = await createTestHost({ mode: "manual", xenconsoled: false }); // the test is the backend
    const { ctx } = await guestCtx(t.host);
    const front = ConsoleFront.open(ctx, { maxPendingBytes: 1000 });
    // No backend at all: the ring takes 2048 bytes, 1000 more may wait, the next write is refused.
    const first = front.write(new Uint8Array(3048));
    const refused = front.write(new Uint8Array(1));
    await expect(refused).rejects.toMatchObject({
      code: "ERR_CONSOLE_OUTPUT_FULL",
      fault: { reason: "output-full", pending: 1000, length: 1, maxPendingBytes: 1000 },
    });
    expect(front.stats).toMatchObject({ bytesOut: 2048, pendingBytes: 1000, droppedBytes: 1 });
    front.destroy();
    await expect(first).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(front.stats.droppedBytes).toBe(1001);
    await t.finish();
  });

  it("abandons a waiting write on abort, taking its unsent bytes out of the queue", async () => {
    await using t = await createTestHost({ mode: "manual", xenconsoled: false }); // the test is the backend
    const { ctx } = await guestCtx(t.host);
    const front = ConsoleFront.open(ctx);
    const ac = new AbortController();
    const w = front.write(new Uint8Array(2100), { signal: ac.signal });
    expect(front.stats.pendingBytes).toBe(52);
    ac.abort(new Error("gave up"));
    await expect(w).rejects.toThrow("gave up");
    expect(front.stats).toMatchObject({ pendingBytes: 0, droppedBytes: 52, bytesOut: 2048 });
    front.destroy();
    await t.finish();
  });
});
