/**
 * Test helpers for the ring tests: guest pages from a simulated hypervisor, simple codecs,
 * and Page wrappers that watch (or interleave) every access.
 */
import { Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import {
  BackRing,
  FrontRing,
  RingProtocolError,
  type RingCodec,
  type RingSpec,
} from "@pvkit/guest-sdk";

/** 2^order fresh writable pages of one domain (both ring ends use the same Page objects). */
export function makePages(nr: number, hv = new Hypervisor({ mode: "manual" })): Page[] {
  const d = hv.createDomain({ nrPages: Math.max(64, nr) });
  const mem = hv.guest(d.domid).memory;
  return Array.from({ length: nr }, (_, i) => mem.writablePage(i));
}

/** A request of the generic test protocol: a u32 id and filler bytes up to the struct size. */
export interface TestReq {
  id: number;
  payload: Uint8Array;
}
/** A response of the generic test protocol: a u32 id, an s16 status, filler bytes. */
export interface TestRsp {
  id: number;
  status: number;
  payload: Uint8Array;
}

/**
 * A protocol whose request is `reqSize` bytes (u32 id at 0, payload after) and whose response
 * is `rspSize` bytes (u32 id at 0, s16 status at 4, payload after; rspSize >= 6).
 */
export function testSpec(reqSize: number, rspSize: number): RingSpec<TestReq, TestRsp> {
  const request: RingCodec<TestReq> = {
    size: reqSize,
    encode(v, out) {
      out.setU32(0, v.id);
      out.write(4, v.payload.subarray(0, reqSize - 4));
    },
    decode(input) {
      return { id: input.getU32(0), payload: input.read(4, reqSize - 4) };
    },
  };
  const response: RingCodec<TestRsp> = {
    size: rspSize,
    encode(v, out) {
      out.setU32(0, v.id);
      out.setS16(4, v.status);
      out.write(6, v.payload.subarray(0, rspSize - 6));
    },
    decode(input) {
      return { id: input.getU32(0), status: input.getS16(4), payload: input.read(6, rspSize - 6) };
    },
  };
  return { request, response };
}

/**
 * A front and back ring on one fresh page, with `testSpec(16, 8)` whose request validation
 * refuses id 666 ("id 666 is forbidden").
 */
export function refusing666() {
  const base = testSpec(16, 8);
  const spec: typeof base = {
    ...base,
    request: {
      ...base.request,
      validate: (v) => (v.id === 666 ? "id 666 is forbidden" : undefined),
    },
  };
  const pages = makePages(1);
  return { pages, spec, front: FrontRing.init(pages, spec), back: BackRing.attach(pages, spec) };
}

/**
 * Where the ring tests start their indices: 0, and just below the 2^31 and 2^32 wraps (a few
 * dozen steps from there cross the wrap).
 */
export const WRAP_STARTS = [
  { at: "0", start: 0 },
  { at: "2^31", start: 2 ** 31 - 2 },
  { at: "2^32", start: 2 ** 32 - 2 },
] as const;

/**
 * A front and a back ring on fresh pages of a ring that has been running: the shared
 * producer indices stand at `start` (events at `start + 1`) and both ends attach there.
 */
export function ringsAt<Req, Rsp>(start: number, spec: RingSpec<Req, Rsp>, nrPages = 1) {
  const pages = makePages(nrPages);
  const hdr = pages[0]!;
  hdr.setU32(0, start >>> 0); // req_prod
  hdr.setU32(4, (start + 1) >>> 0); // req_event
  hdr.setU32(8, start >>> 0); // rsp_prod
  hdr.setU32(12, (start + 1) >>> 0); // rsp_event
  return {
    pages,
    front: FrontRing.attach(pages, spec, start),
    back: BackRing.attach(pages, spec, start),
  };
}

/**
 * Rings attached at `start` (the test spec `spec`, requests `{ id, payload: filler(id, 108) }`)
 * with `k` requests produced and pushed (ids 0..k-1), all consumed by the honest backend, which
 * answered the first `answered` (payload `filler(i, 10)`) and pushed them.
 */
export function ringsWithAnswered(
  start: number,
  spec: RingSpec<TestReq, TestRsp>,
  k: number,
  answered: number,
) {
  const rings = ringsAt(start, spec);
  const { front, back } = rings;
  for (let id = 0; id < k; id++) front.produceRequest({ id, payload: filler(id, 108) });
  front.pushRequestsAndCheckNotify();
  for (let i = 0; i < k; i++) {
    const got = back.consumeRequest()?.id;
    if (got !== i)
      throw new Error(`ringsWithAnswered: the backend consumed id ${got}, expected ${i}`);
  }
  for (let i = 0; i < answered; i++)
    back.produceResponse({ id: i, status: 0, payload: filler(i, 10) });
  back.pushResponsesAndCheckNotify();
  return rings;
}

/** The RingProtocolError `fn` throws (anything else thrown fails the test); undefined if none. */
export function ringErrorOf(fn: () => unknown): RingProtocolError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof RingProtocolError) return e;
    throw e;
  }
  return undefined;
}

/** Deterministic filler bytes for request/response number `n`. */
export function filler(n: number, len: number, salt = 0): Uint8Array {
  const out = new Uint8Array(Math.max(0, len));
  for (let i = 0; i < out.length; i++) out[i] = (n * 31 + i * 7 + salt * 13 + 1) & 0xff;
  return out;
}

/** All bytes of a page list, concatenated. */
export function snapshot(pages: readonly Page[]): Uint8Array {
  const out = new Uint8Array(pages.length * 4096);
  pages.forEach((p, i) => void p.readInto(0, out, i * 4096, 4096));
  return out;
}

/** Every access a page receives, in ring-area byte coordinates. */
export interface Access {
  kind: "read" | "write";
  start: number;
  end: number;
}

/**
 * A Page that forwards to `inner` and calls `before(access)` first. `base` is the page's byte
 * offset within the ring area, so accesses are reported in area coordinates.
 */
export class WatchedPage implements Page {
  constructor(
    private readonly inner: Page,
    private readonly base: number,
    private readonly before: (a: Access) => void,
  ) {}
  get writable(): true {
    return this.inner.writable;
  }
  get alive(): boolean {
    return this.inner.alive;
  }
  get mfn(): number {
    return this.inner.mfn;
  }
  #r(off: number, len: number): void {
    this.before({ kind: "read", start: this.base + off, end: this.base + off + len });
  }
  #w(off: number, len: number): void {
    this.before({ kind: "write", start: this.base + off, end: this.base + off + len });
  }
  getU8(o: number): number {
    this.#r(o, 1);
    return this.inner.getU8(o);
  }
  getU16(o: number): number {
    this.#r(o, 2);
    return this.inner.getU16(o);
  }
  getU32(o: number): number {
    this.#r(o, 4);
    return this.inner.getU32(o);
  }
  getU64(o: number): number {
    this.#r(o, 8);
    return this.inner.getU64(o);
  }
  read(o: number, len: number): Uint8Array {
    this.#r(o, len);
    return this.inner.read(o, len);
  }
  readInto(o: number, dest: Uint8Array, destOffset = 0, length = dest.length - destOffset): void {
    this.#r(o, length);
    this.inner.readInto(o, dest, destOffset, length);
  }
  readWords(o: number, dest: BigInt64Array, destIndex: number, count: number): void {
    this.#r(o, 8 * count);
    this.inner.readWords(o, dest, destIndex, count);
  }
  setU8(o: number, v: number): void {
    this.#w(o, 1);
    this.inner.setU8(o, v);
  }
  setU16(o: number, v: number): void {
    this.#w(o, 2);
    this.inner.setU16(o, v);
  }
  setU32(o: number, v: number): void {
    this.#w(o, 4);
    this.inner.setU32(o, v);
  }
  setU64(o: number, v: number): void {
    this.#w(o, 8);
    this.inner.setU64(o, v);
  }
  write(o: number, src: Uint8Array): void {
    this.#w(o, src.length);
    this.inner.write(o, src);
  }
  fill(value: number, offset = 0, length = 4096 - offset): void {
    this.#w(offset, length);
    this.inner.fill(value, offset, length);
  }
}

/** Wraps each page of a ring with a WatchedPage reporting area coordinates. */
export function watchPages(pages: readonly Page[], before: (a: Access) => void): Page[] {
  return pages.map((p, i) => new WatchedPage(p, i * 4096, before));
}

/** The first offset where two byte arrays differ, or -1 (fast, and a readable failure value). */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length === b.length && Buffer.compare(a, b) === 0) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
