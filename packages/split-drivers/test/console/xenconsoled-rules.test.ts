// xenconsoled's buffer and input rules (io.c: buffer_append's discard-the-middle overflow with the
// `limit` key, handle_tty_read's 80-byte reads, a producer index beyond the ring ignored).
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { xencons_interface } from "@pvkit/hypervisor-sim/abi";
import { createTestHost, drive } from "@pvkit/toolstack/testing";
import { ConsoleFront } from "@pvkit/split-drivers";
import { guestCtx, scriptedTerminals } from "./helpers.js";

const LIMIT = 1048576; // libxl's console/limit

function pattern(n: number, from = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

describe("xenconsoled buffer and input rules", () => {
  it("keeps the first limit/2 bytes and everything from offset limit on once the buffer passes 5/4 of limit", async () => {
    const logDir = mkdtempSync(join(tmpdir(), "pvkit-limit-"));
    try {
      const terms = scriptedTerminals();
      await using t = await createTestHost({
        mode: "manual",
        xenconsoled: { pty: terms.factory, logDir },
      });
      const host = t.host;
      const { domid, ctx } = await guestCtx(host, "flood");
      const xc = host.xenconsoled!.console(domid)!;
      expect(xc.buffer.maxCapacity).toBe(LIMIT);
      // A terminal nobody reads: every byte stays buffered. 1000 bytes past 5/4 of the limit.
      const total = (5 * LIMIT) / 4 + 1000;
      const front = ConsoleFront.open(ctx, { maxPendingBytes: total });
      await drive(host.hv, front.write(pattern(total)));
      const kept = xc.buffer.view();
      expect(kept.length).toBe(LIMIT / 2 + (total - LIMIT));
      expect(xc.buffer.discarded).toBe(LIMIT / 2);
      expect(Buffer.from(kept.subarray(0, LIMIT / 2)).equals(Buffer.from(pattern(LIMIT / 2)))).toBe(
        true,
      );
      expect(
        Buffer.from(kept.subarray(LIMIT / 2)).equals(Buffer.from(pattern(total - LIMIT, LIMIT))),
      ).toBe(true);
      // The log is written before the rule applies: it has every byte.
      expect(
        Buffer.from(readFileSync(join(logDir, "guest-flood.log"))).equals(
          Buffer.from(pattern(total)),
        ),
      ).toBe(true);
      front.destroy();
      await t.finish();
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  it("puts typed bytes into `in` at most 80 at a time and no more than the ring has room for", async () => {
    const terms = scriptedTerminals();
    await using t = await createTestHost({ mode: "manual", xenconsoled: { pty: terms.factory } });
    const host = t.host;
    const { domid, ctx } = await guestCtx(host);
    const xc = host.xenconsoled!.console(domid)!;
    const page = ctx.guest.memory.page(3);
    const prods: number[] = [];
    terms.made[0]!.type(pattern(200));
    prods.push(page.getU32(xencons_interface.in_prod[0]));
    expect(xc.counters).toMatchObject({ bytesIn: 200, inputReads: 3 }); // 80 + 80 + 40
    // Nobody reads the guest's `in`: 1024 - 200 = 824 free; 1000 more typed fill it, 176 wait.
    terms.made[0]!.type(pattern(1000, 200));
    expect(page.getU32(xencons_interface.in_prod[0])).toBe(1024);
    expect(xc.counters).toMatchObject({ bytesIn: 1024, inputReads: 3 + 11 }); // 10 x 80 + 24
    // The guest reads: the rest comes in on its notification.
    const front = ConsoleFront.open(ctx);
    const got: number[] = [];
    const sub = front.input$.subscribe((b) => got.push(...b));
    await host.hv.settle();
    expect(got.length).toBe(1200);
    expect(Buffer.from(got).equals(Buffer.from(pattern(1200)))).toBe(true);
    expect(prods).toEqual([200]);
    sub.unsubscribe();
    front.destroy();
    await t.finish();
  });

  it("ignores an out_prod beyond the ring (nothing read, out_cons untouched) and serves the ring again once it is sane", async () => {
    const logDir = mkdtempSync(join(tmpdir(), "pvkit-badidx-"));
    try {
      await using t = await createTestHost({ mode: "manual", xenconsoled: { pty: false, logDir } });
      const host = t.host;
      const { domid, ctx } = await guestCtx(host, "bad");
      const xc = host.xenconsoled!.console(domid)!;
      const page = ctx.guest.memory.writablePage(3);
      // A hostile guest of its own: raw ring writes through the console port.
      const si = ctx.startInfo.console;
      const ch = ctx.events.adopt(si.kind === "domU" ? si.evtchn : -1);
      page.setU32(xencons_interface.out_prod[0], 5000); // prod - cons = 5000 > 2048
      ch.notify();
      host.hv.scheduler.runUntilIdle();
      expect(xc.counters).toMatchObject({ badIndices: 1, bytesOut: 0 });
      expect(page.getU32(xencons_interface.out_cons[0])).toBe(0);
      page.write(xencons_interface.out[0], new TextEncoder().encode("ok\n"));
      page.setU32(xencons_interface.out_prod[0], 3);
      ch.notify();
      host.hv.scheduler.runUntilIdle();
      expect(xc.counters).toMatchObject({ badIndices: 1, bytesOut: 3 });
      expect(page.getU32(xencons_interface.out_cons[0])).toBe(3);
      expect(readFileSync(join(logDir, "guest-bad.log"), "latin1")).toBe("ok\n");
      ch.close();
      await t.finish();
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});
