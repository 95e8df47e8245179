// ConsoleFront.stream(), the happy path: bytes written through the Duplex reach xenconsoled (its
// buffer, the log file, the stdout copy), typed bytes come out as readable data, and both sides
// push back when the ring is full (io/console.h: out[2048], in[1024]).
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { xencons_interface } from "@pvkit/hypervisor-sim/abi";
import { createTestHost, drive } from "@pvkit/toolstack/testing";
import { ConsoleFront } from "@pvkit/split-drivers";
import { guestCtx, scriptedTerminals } from "./helpers.js";

function pattern(n: number, from = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

/** A Writable keeping every chunk written to it. */
function collector(): { stream: Writable; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write: (c: Buffer, _e, cb) => (chunks.push(Buffer.from(c)), cb()),
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
}

describe("console stream", () => {
  it("writes through the stream into xenconsoled's buffer, its log and its stdout copy, and reads typed bytes", async () => {
    const logDir = mkdtempSync(join(tmpdir(), "pvkit-stream-"));
    try {
      const terms = scriptedTerminals();
      const out = collector();
      await using t = await createTestHost({
        mode: "manual",
        xenconsoled: { pty: terms.factory, logDir, stdout: out.stream },
      });
      const host = t.host;
      const { domid, ctx } = await guestCtx(host, "streamer");
      const xc = host.xenconsoled!.console(domid)!;
      const front = ConsoleFront.open(ctx);
      const stream = front.stream();
      const data = pattern(5000); // more than the 2048-byte ring: goes out as xenconsoled consumes
      const written = new Promise<void>((r, j) =>
        stream.write(Buffer.from(data), (e) => (e ? j(e) : r())),
      );
      await drive(host.hv, written);
      await host.hv.settle();
      expect(Buffer.from(xc.buffer.view()).equals(Buffer.from(data))).toBe(true); // the terminal takes nothing: all buffered
      expect(
        Buffer.from(readFileSync(join(logDir, "guest-streamer.log"))).equals(Buffer.from(data)),
      ).toBe(true);
      expect(out.bytes().equals(Buffer.from(data))).toBe(true);
      expect(front.stats).toMatchObject({ bytesOut: 5000 });
      // Typed on the terminal: readable data, in order.
      const got: Buffer[] = [];
      stream.on("data", (b: Buffer) => got.push(b));
      terms.made[0]!.type(new TextEncoder().encode("hello\r"));
      host.hv.scheduler.runUntilIdle();
      await host.hv.settle();
      expect(Buffer.concat(got).toString()).toBe("hello\r");
      stream.destroy();
      front.destroy();
      await t.finish();
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  it("copies exactly the guest's output bytes to a Writable given as xenconsoled's stdout", async () => {
    const out = collector();
    await using t = await createTestHost({
      mode: "manual",
      xenconsoled: { pty: false, stdout: out.stream },
    });
    const { ctx } = await guestCtx(t.host);
    const front = ConsoleFront.open(ctx);
    await drive(t.host.hv, front.write(new TextEncoder().encode("line one\n")));
    await drive(t.host.hv, front.write(Uint8Array.of(0, 0xff, 0x1b, 0x5b)));
    await t.host.hv.settle();
    expect([...out.bytes()]).toEqual([
      ...new TextEncoder().encode("line one\n"),
      0,
      0xff,
      0x1b,
      0x5b,
    ]);
    front.destroy();
    await t.finish();
  });

  it("pushes back on the writer when the out ring is full: 2048 bytes in the ring, the rest queued, write() false", async () => {
    await using t = await createTestHost({ mode: "manual", xenconsoled: false }); // nobody consumes `out`
    const { ctx } = await guestCtx(t.host);
    const page = ctx.guest.memory.page(3) /* the console ring (console.domU.mfn) */;
    const front = ConsoleFront.open(ctx);
    const stream = front.stream({ writableHighWaterMark: 1024 });
    // Writer: 2048 bytes fill the ring; the rest of a 3000-byte chunk waits in the console's queue,
    // and the stream buffers the next chunk instead of queueing it.
    expect(stream.write(Buffer.from(pattern(3000)))).toBe(false);
    expect(stream.write(Buffer.from(pattern(100)))).toBe(false);
    t.host.hv.scheduler.runUntilIdle();
    await t.host.hv.settle();
    expect(page.getU32(xencons_interface.out_prod[0])).toBe(2048);
    expect(front.stats).toMatchObject({ bytesOut: 2048, pendingBytes: 952 });
    expect(stream.writableLength).toBe(3100);
    stream.destroy();
    front.destroy();
    await t.finish();
  });

  it("stops taking input while the reader does not read, so typed bytes back up in the in ring, and takes them once it reads", async () => {
    const terms = scriptedTerminals();
    await using t = await createTestHost({ mode: "manual", xenconsoled: { pty: terms.factory } });
    const host = t.host;
    const { domid, ctx } = await guestCtx(host);
    const xc = host.xenconsoled!.console(domid)!;
    const page = ctx.guest.memory.page(3);
    const front = ConsoleFront.open(ctx);
    const stream = front.stream({ readableHighWaterMark: 16 });
    const step = async (): Promise<void> => {
      await new Promise((r) => setImmediate(r)); // the stream's nextTick work
      host.hv.scheduler.runUntilIdle();
      await host.hv.settle();
    };
    terms.made[0]!.type(pattern(200));
    await step();
    // Nobody reads the stream: what was taken sits in its buffer, past the high-water mark, and
    // the console takes no more.
    // (xenconsoled's 80 + 80 + 40 arrive before the guest's read pass: it takes all 200 at once.)
    const taken = front.stats.bytesIn;
    expect(taken).toBe(200);
    expect(stream.readableLength).toBe(200);
    terms.made[0]!.type(pattern(2000, 200));
    await step();
    expect(front.stats.bytesIn).toBe(taken);
    expect(
      page.getU32(xencons_interface.in_prod[0]) - page.getU32(xencons_interface.in_cons[0]),
    ).toBe(1024); // the ring is full
    expect(xc.counters.bytesIn).toBe(1224); // 976 typed bytes wait in xenconsoled
    // Reading drains the stream and the ring, and xenconsoled puts the rest of the typing in.
    const got: Buffer[] = [];
    stream.on("data", (b: Buffer) => got.push(b));
    for (let i = 0; i < 10 && Buffer.concat(got).length < 2200; i++) await step();
    expect(Buffer.concat(got).length).toBe(2200);
    expect(Buffer.concat(got).equals(Buffer.from(pattern(2200)))).toBe(true);
    expect(front.stats.bytesIn).toBe(2200);
    stream.destroy();
    front.destroy();
    await t.finish();
  });
});
