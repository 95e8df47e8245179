/**
 * The practical limit in JavaScript: a hand-written ring over one ArrayBuffer, no simulator.
 * Same shape as the SDK echo: a 64-byte header with four u32 indices, 32 entries of 112 bytes,
 * the producer writes each request's fields, the consumer copies the entry out (as
 * RING_COPY_REQUEST does), memcpys 4 KiB from the request's data page, and writes a response
 * the producer reads back. Indices are free-running u32s, compared through differences.
 */
const ENTRY = 112;
const SLOTS = 32;
const HEADER = 64;
const PAGE = 4096;

export interface HandRing {
  /** Runs `n` requests at queue depth 32; returns n. */
  run(n: number): number;
}

export function handRing(): HandRing {
  const buf = new ArrayBuffer(HEADER + SLOTS * ENTRY + 2 * SLOTS * PAGE);
  const dv = new DataView(buf, 0, HEADER + SLOTS * ENTRY);
  const ring = new Uint8Array(buf, 0, HEADER + SLOTS * ENTRY);
  const src = new Uint8Array(buf, HEADER + SLOTS * ENTRY, SLOTS * PAGE);
  const dst = new Uint8Array(buf, HEADER + SLOTS * ENTRY + SLOTS * PAGE, SLOTS * PAGE);
  for (let i = 0; i < src.length; i++) src[i] = (i * 31) & 0xff;
  const copy = new Uint8Array(ENTRY);
  const copyDv = new DataView(copy.buffer);
  let reqProdPvt = 0;
  let rspCons = 0;
  let reqCons = 0;
  let rspProdPvt = 0;
  let nextId = 0;
  let checksum = 0;
  return {
    run(n: number): number {
      let issued = 0;
      let done = 0;
      while (done < n) {
        // Producer: fill to queue depth 32 and publish.
        while ((reqProdPvt - rspCons) >>> 0 < SLOTS && issued < n) {
          const off = HEADER + (reqProdPvt & (SLOTS - 1)) * ENTRY;
          const id = nextId++ >>> 0;
          dv.setUint32(off, id, true);
          dv.setUint32(off + 8, id & (SLOTS - 1), true); // "gref": the data page
          dv.setUint16(off + 12, PAGE, true);
          reqProdPvt = (reqProdPvt + 1) >>> 0;
          issued++;
        }
        dv.setUint32(0, reqProdPvt, true);
        // Consumer: copy each entry out, copy the page, answer.
        const prod = dv.getUint32(0, true);
        while (reqCons !== prod) {
          const off = HEADER + (reqCons & (SLOTS - 1)) * ENTRY;
          copy.set(ring.subarray(off, off + ENTRY));
          reqCons = (reqCons + 1) >>> 0;
          const id = copyDv.getUint32(0, true);
          const page = copyDv.getUint32(8, true);
          const len = copyDv.getUint16(12, true);
          dst.set(src.subarray(page * PAGE, page * PAGE + len), page * PAGE);
          const roff = HEADER + (rspProdPvt & (SLOTS - 1)) * ENTRY;
          dv.setUint32(roff, id, true);
          dv.setInt16(roff + 4, 0, true);
          dv.setUint16(roff + 6, len, true);
          rspProdPvt = (rspProdPvt + 1) >>> 0;
        }
        dv.setUint32(8, rspProdPvt, true);
        // Producer: take the responses.
        const rprod = dv.getUint32(8, true);
        while (rspCons !== rprod) {
          const off = HEADER + (rspCons & (SLOTS - 1)) * ENTRY;
          checksum = (checksum + dv.getUint32(off, true) + dv.getUint16(off + 6, true)) >>> 0;
          rspCons = (rspCons + 1) >>> 0;
          done++;
        }
      }
      if (dst[PAGE + 5] !== src[PAGE + 5]) throw new Error("hand ring: data page not copied");
      return n;
    },
  };
}
