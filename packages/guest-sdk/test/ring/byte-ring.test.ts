/**
 * Byte rings: the console (`xencons_interface`) and xenstore (`xenstore_domain_interface`)
 * layouts, wrap-around of the data arrays and of the u32 counters, partial writes when full,
 * and corrupt-index detection.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  ByteRingReader,
  ByteRingWriter,
  consoleInRing,
  consoleOutRing,
  RingProtocolError,
  xenstoreRequestRing,
  xenstoreResponseRing,
  type ByteRingLayout,
} from "@pvkit/guest-sdk";
import {
  MASK_XENCONS_IDX,
  MASK_XENSTORE_IDX,
  XENCONS_INTERFACE_SIZE,
  XENSTORE_DOMAIN_INTERFACE_SIZE,
  XENSTORE_ERROR,
  XENSTORE_RING_SIZE,
  xencons_interface,
  xenstore_domain_interface,
} from "@pvkit/hypervisor-sim/abi";
import { firstDiff, makePages, watchPages } from "./helpers.js";

const bytes = (n: number, salt = 0): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i * 7 + salt) & 0xff);

describe("byte ring layouts", () => {
  it("matches struct xencons_interface (io/console.h)", () => {
    // char in[1024]; char out[2048]; XENCONS_RING_IDX in_cons, in_prod, out_cons, out_prod;
    expect(xencons_interface).toEqual({
      in: [0, 1024],
      out: [1024, 2048],
      in_cons: [3072, 4],
      in_prod: [3076, 4],
      out_cons: [3080, 4],
      out_prod: [3084, 4],
    });
    expect(XENCONS_INTERFACE_SIZE).toBe(3088);
    expect(consoleInRing).toMatchObject({
      dataOffset: 0,
      size: 1024,
      consOffset: 3072,
      prodOffset: 3076,
    });
    expect(consoleOutRing).toMatchObject({
      dataOffset: 1024,
      size: 2048,
      consOffset: 3080,
      prodOffset: 3084,
    });
    expect(MASK_XENCONS_IDX(0x12345, 2048)).toBe(0x345);
    expect(MASK_XENCONS_IDX(0xffffffff, 1024)).toBe(1023);
  });

  it("matches struct xenstore_domain_interface (io/xs_wire.h)", () => {
    // char req[1024]; char rsp[1024]; req_cons, req_prod, rsp_cons, rsp_prod,
    // server_features, connection, error (all u32).
    expect(xenstore_domain_interface).toEqual({
      req: [0, 1024],
      rsp: [1024, 1024],
      req_cons: [2048, 4],
      req_prod: [2052, 4],
      rsp_cons: [2056, 4],
      rsp_prod: [2060, 4],
      server_features: [2064, 4],
      connection: [2068, 4],
      error: [2072, 4],
    });
    expect(XENSTORE_DOMAIN_INTERFACE_SIZE).toBe(2076);
    expect(XENSTORE_RING_SIZE).toBe(1024);
    expect(XENSTORE_ERROR.XENSTORE_ERROR_RINGIDX).toBe(2);
    expect(xenstoreRequestRing).toMatchObject({
      dataOffset: 0,
      size: 1024,
      consOffset: 2048,
      prodOffset: 2052,
    });
    expect(xenstoreResponseRing).toMatchObject({
      dataOffset: 1024,
      size: 1024,
      consOffset: 2056,
      prodOffset: 2060,
    });
    expect(MASK_XENSTORE_IDX(1025)).toBe(1);
  });

  it("refuses layouts that are not a power of two or run off the page", () => {
    const [page] = makePages(1);
    const bad: ByteRingLayout[] = [
      { dataOffset: 0, size: 1000, consOffset: 2048, prodOffset: 2052 },
      { dataOffset: 3072, size: 2048, consOffset: 0, prodOffset: 4 },
      { dataOffset: 0, size: 1024, consOffset: 4094, prodOffset: 2052 },
    ];
    for (const l of bad) expect(() => new ByteRingWriter(page!, l)).toThrow(RangeError);
  });
});

describe("ByteRingWriter and ByteRingReader", () => {
  it("wraps the data array: console output written at out_prod = 2040", () => {
    const [page] = makePages(1);
    page!.setU32(3080, 2040); // out_cons
    page!.setU32(3084, 2040); // out_prod
    const w = new ByteRingWriter(page!, consoleOutRing);
    const data = bytes(20, 1);
    expect(w.write(data)).toBe(20);
    // Stream bytes 2040..2047 go to out[2040..2047] (page 3064..3071), 2048..2059 to out[0..11].
    expect(page!.read(1024 + 2040, 8)).toEqual(data.subarray(0, 8));
    expect(page!.read(1024, 12)).toEqual(data.subarray(8));
    expect(page!.getU32(3084)).toBe(2060);
    const r = new ByteRingReader(page!, consoleOutRing);
    expect(r.available).toBe(20);
    expect(r.read()).toEqual(data);
    expect(page!.getU32(3080)).toBe(2060);
    expect(r.available).toBe(0);
  });

  it("wraps the u32 counters at 2^32", () => {
    const [page] = makePages(1);
    page!.setU32(2048, 0xfffffff0); // req_cons
    page!.setU32(2052, 0xfffffff0); // req_prod
    const w = new ByteRingWriter(page!, xenstoreRequestRing);
    const data = bytes(40, 3);
    expect(w.write(data)).toBe(40);
    // 0xfffffff0 & 1023 = 1008: 16 bytes at req[1008..1023], then 24 at req[0..23].
    expect(page!.read(1008, 16)).toEqual(data.subarray(0, 16));
    expect(page!.read(0, 24)).toEqual(data.subarray(16));
    expect(page!.getU32(2052)).toBe(0x18);
    expect(w.free).toBe(1024 - 40);
    const r = new ByteRingReader(page!, xenstoreRequestRing);
    expect(r.peek(10)).toEqual(data.subarray(0, 10));
    r.advance(10);
    expect(r.read()).toEqual(data.subarray(10));
    expect(page!.getU32(2048)).toBe(0x18);
  });

  it("readInto consumes into the caller's array across the wrap, at most max bytes", () => {
    const [page] = makePages(1);
    page!.setU32(2048, 1000); // req_cons
    page!.setU32(2052, 1000); // req_prod
    const w = new ByteRingWriter(page!, xenstoreRequestRing);
    const r = new ByteRingReader(page!, xenstoreRequestRing);
    const data = bytes(40, 9);
    expect(w.write(data)).toBe(40); // 24 bytes at req[1000..1023], 16 at req[0..15]
    const dest = new Uint8Array(50).fill(0xee);
    expect(r.readInto(dest, 2, 30)).toBe(30);
    expect(dest.subarray(2, 32)).toEqual(data.subarray(0, 30));
    expect(dest[0]).toBe(0xee);
    expect(dest[32]).toBe(0xee);
    expect(page!.getU32(2048)).toBe(1030);
    expect(r.readInto(dest, 0, 50)).toBe(10);
    expect(dest.subarray(0, 10)).toEqual(data.subarray(30));
    expect(page!.getU32(2048)).toBe(1040);
    expect(r.readInto(dest, 0, 50)).toBe(0);
    expect(() => r.readInto(dest, 45, 10)).toThrow(RangeError);
  });

  it("writes only what fits when the ring is full, and the rest after the reader makes room", () => {
    const [page] = makePages(1);
    const w = new ByteRingWriter(page!, consoleOutRing);
    const r = new ByteRingReader(page!, consoleOutRing);
    const data = bytes(3000, 5);
    expect(w.write(data)).toBe(2048);
    expect(w.free).toBe(0);
    expect(w.write(data.subarray(2048))).toBe(0);
    expect(page!.getU32(3084)).toBe(2048);
    expect(r.read(100)).toEqual(data.subarray(0, 100));
    expect(w.write(data.subarray(2048))).toBe(100);
    expect(r.read()).toEqual(data.subarray(100, 2148));
    expect(() => r.advance(1)).toThrow(RangeError);
  });

  it("detects prod - cons > size, reading and writing nothing, until the peer repairs it", () => {
    const [raw] = makePages(1);
    raw!.setU32(3080, 0x100); // out_cons
    raw!.setU32(3084, 0x100 + 2049); // out_prod: one more than the ring holds
    raw!.fill(0x5a, 1024, 2048);
    const before = raw!.read(0, 4096);
    const dataAccesses: string[] = [];
    const [page] = watchPages([raw!], (a) => {
      if (a.start < 3072) dataAccesses.push(`${a.kind} ${a.start}`);
    });
    const w = new ByteRingWriter(page!, consoleOutRing);
    const r = new ByteRingReader(page!, consoleOutRing);
    let err: unknown;
    try {
      r.peek();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RingProtocolError);
    const e = err as RingProtocolError;
    expect(e.code).toBe("ERR_RING_BYTE_INDEX");
    expect(e.fault).toEqual({ reason: "byte-ring-index", prod: 0x901, cons: 0x100, size: 2048 });
    expect(e.message).toBe(
      "xencons out: corrupt byte ring: prod=0x00000901, cons=0x00000100, prod - cons > size=2048",
    );
    expect(() => r.read()).toThrow(RingProtocolError);
    expect(() => r.advance(0)).toThrow(RingProtocolError);
    expect(() => r.readInto(new Uint8Array(8), 0, 8)).toThrow(RingProtocolError);
    expect(() => r.available).toThrow(RingProtocolError);
    expect(() => w.write(bytes(10))).toThrow(RingProtocolError);
    expect(() => w.free).toThrow(RingProtocolError);
    expect(dataAccesses).toEqual([]);
    expect(firstDiff(raw!.read(0, 4096), before)).toBe(-1);
    // A backwards producer (prod behind cons) is just as corrupt.
    raw!.setU32(3084, 0xff);
    expect(() => r.peek()).toThrow(RingProtocolError);
    // Exactly full (prod - cons = size) is legal; not sticky once repaired.
    raw!.setU32(3084, 0x100 + 2048);
    expect(r.available).toBe(2048);
    expect(w.write(bytes(1))).toBe(0);
  });

  it("matches a literal model of the C ring loops for random reads and writes from any start index", () => {
    const [page] = makePages(1);
    fc.assert(
      fc.property(
        fc.constantFrom(consoleInRing, consoleOutRing, xenstoreRequestRing, xenstoreResponseRing),
        fc.oneof(
          fc.constant(0),
          fc.integer({ min: 1, max: 3000 }).map((k) => 2 ** 32 - k),
          fc.nat({ max: 0xffffffff }),
        ),
        fc.array(
          fc.oneof(
            fc.record({ t: fc.constant<"w">("w"), n: fc.nat(1500) }),
            fc.record({ t: fc.constant<"r">("r"), n: fc.nat(1500) }),
          ),
          { maxLength: 40 },
        ),
        (layout, start, ops) => {
          page!.fill(0);
          page!.setU32(layout.consOffset, start);
          page!.setU32(layout.prodOffset, start);
          // The model: the page as a byte array and the loops of hvc_xen / xenconsoled.
          const mem = page!.read(0, 4096);
          const dv = new DataView(mem.buffer);
          const cons = (): number => dv.getUint32(layout.consOffset, true);
          const prod = (): number => dv.getUint32(layout.prodOffset, true);
          const mask = (i: number): number => i & (layout.size - 1);
          const w = new ByteRingWriter(page!, layout);
          const r = new ByteRingReader(page!, layout);
          let written = 0;
          let read = 0;
          for (const op of ops) {
            if (op.t === "w") {
              const src = bytes(op.n, written);
              let sent = 0;
              let p = prod();
              while (sent < src.length && (p - cons()) >>> 0 < layout.size) {
                mem[layout.dataOffset + mask(p)] = src[sent++]!;
                p = (p + 1) >>> 0;
              }
              dv.setUint32(layout.prodOffset, p, true);
              expect(w.write(src)).toBe(sent);
              written += sent;
            } else {
              const out: number[] = [];
              let c = cons();
              while (out.length < op.n && c !== prod()) {
                out.push(mem[layout.dataOffset + mask(c)]!);
                c = (c + 1) >>> 0;
              }
              dv.setUint32(layout.consOffset, c, true);
              expect(firstDiff(r.read(op.n), Uint8Array.from(out))).toBe(-1);
              read += out.length;
            }
            expect(firstDiff(page!.read(0, 4096), mem)).toBe(-1);
            expect(r.available).toBe(written - read);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
