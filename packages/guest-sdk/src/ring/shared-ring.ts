/**
 * The shared part of an `io/ring.h` ring as both ends see it: 2^order pages forming one
 * contiguous area, the 64-byte `sring` header at the start of page 0, and the entry array.
 *
 * ```
 *  page 0                                   page 1 ...            page 2^order - 1
 * +--------+-------+-------+---- - - ------+---- - - ------------+---- - - ----+
 * | header | ent 0 | ent 1 |  ...  | ent k |..ent k (cont.) | ... |  ... | tail |
 * +--------+-------+-------+---- - - ------+---- - - ------------+---- - - ----+
 *  0       64      64+E    64+2E            4096                               4096<<order
 * ```
 *
 * Byte `b` of the area is `pages[b >> 12]` at offset `b & 4095`; an entry may straddle a page
 * boundary. Entry `idx` is slot `idx & (RING_SIZE - 1)`, so no index a peer writes can make us
 * touch a byte outside `[0, 64 + RING_SIZE * E)`.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import { __RING_SIZE, SHARED_RING_INIT_VALUES, SRING_RING_OFFSET, sring } from "@pvkit/hypervisor-sim/abi";

const PAGE_SHIFT = 12;
const PAGE_SIZE = 1 << PAGE_SHIFT;

/** The largest page order a multi-page ring may have here (Linux `XENBUS_MAX_RING_GRANT_ORDER`). */
export const MAX_RING_PAGE_ORDER = 4;

/** The u32 fields of the shared header. */
export type SringIndexField = "req_prod" | "req_event" | "rsp_prod" | "rsp_event";

/** The page order of a page list (its length must be 2^order, order 0..4). @throws RangeError otherwise. */
export function ringPageOrder(nrPages: number): number {
  for (let order = 0; order <= MAX_RING_PAGE_ORDER; order++) if (nrPages === 1 << order) return order;
  throw new RangeError(`a ring needs 2^order pages with order 0..${MAX_RING_PAGE_ORDER}, not ${nrPages}`);
}

/** Byte offset of each u32 header field, looked up once rather than through `sring` per access. */
const HEADER_OFFSET: Readonly<Record<SringIndexField, number>> = {
  req_prod: sring.req_prod[0],
  req_event: sring.req_event[0],
  rsp_prod: sring.rsp_prod[0],
  rsp_event: sring.rsp_event[0],
};

/** Addressing of one ring area; holds no indices of its own. */
export class SharedRingArea {
  readonly #pages: readonly Page[];
  /** Page 0, which holds the header. */
  readonly #page0: Page;
  /** log2 of the number of pages. */
  readonly order: number;
  /** `sizeof(union X_sring_entry)` in bytes. */
  readonly entrySize: number;
  /** `RING_SIZE`: entries in the ring, a power of two. */
  readonly ringSize: number;

  /**
   * @param pages 2^order writable pages, in ring order (`ring-ref0` … `ring-ref{2^order-1}`).
   * @param entrySize `sizeof(union X_sring_entry)` in bytes.
   * @throws RangeError for a bad page count, a read-only page, or an entry too large for one slot.
   */
  constructor(pages: readonly Page[], entrySize: number) {
    this.order = ringPageOrder(pages.length);
    pages.forEach((p, i) => {
      if (p.writable !== true) throw new RangeError(`ring page ${i} is mapped read-only; both ends write the ring`);
    });
    this.#pages = [...pages];
    this.#page0 = pages[0] as Page;
    this.entrySize = entrySize;
    this.ringSize = __RING_SIZE(PAGE_SIZE << this.order, entrySize);
    if (this.ringSize === 0) {
      throw new RangeError(`a ${entrySize}-byte entry does not fit in a ring of ${PAGE_SIZE << this.order} bytes`);
    }
  }

  /** Reads a u32 field of the shared header. */
  get(field: SringIndexField): number {
    return this.#page0.getU32(HEADER_OFFSET[field]);
  }

  /** Writes a u32 field of the shared header (`value` is taken modulo 2^32). */
  set(field: SringIndexField, value: number): void {
    this.#page0.setU32(HEADER_OFFSET[field], value >>> 0);
  }

  /** `SHARED_RING_INIT`: producers 0, event indices 1, `pvt` and `__pad` zeroed. Entries untouched. */
  initHeader(): void {
    const v = SHARED_RING_INIT_VALUES;
    this.set("req_prod", v.req_prod);
    this.set("rsp_prod", v.rsp_prod);
    this.set("req_event", v.req_event);
    this.set("rsp_event", v.rsp_event);
    this.#page0.fill(0, sring.pvt[0], sring.pvt[1]);
    this.#page0.fill(0, sring.__pad[0], sring.__pad[1]);
  }

  /** Byte offset in the area of the entry for ring index `idx`. */
  entryOffset(idx: number): number {
    return SRING_RING_OFFSET + ((idx & (this.ringSize - 1)) >>> 0) * this.entrySize;
  }

  /** A private copy of the first `length` bytes of entry `idx` (`RING_COPY_*`): one read of the page. */
  copyEntry(idx: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.copyEntryInto(idx, length, out, 0);
    return out;
  }

  /**
   * Copies the first `length` bytes of entry `idx` into private memory `dest` at `destOffset`
   * (`RING_COPY_*`): each byte of the shared page is read exactly once.
   * @throws RangeError if `length` exceeds the entry or `dest` cannot hold it.
   */
  copyEntryInto(idx: number, length: number, dest: Uint8Array, destOffset: number): void {
    this.#checkLength(length);
    if (!(destOffset >= 0 && destOffset + length <= dest.length)) tooSmall(dest, destOffset, length);
    const at = this.entryOffset(idx);
    const off = at & (PAGE_SIZE - 1);
    // The usual case, an entry inside one page, stays small so that V8 inlines it.
    if (off + length <= PAGE_SIZE) this.#page(at).readInto(off, dest, destOffset, length);
    else this.#copyStraddling(at, length, dest, destOffset);
  }

  /**
   * The page holding the first `length` bytes of entry `idx` when they lie inside one page
   * (the byte offset within it is `entryOffset(idx) & 4095`), else undefined.
   * @throws RangeError if `length` exceeds the entry.
   */
  entryPage(idx: number, length: number): Page | undefined {
    this.#checkLength(length);
    const at = this.entryOffset(idx);
    return (at & (PAGE_SIZE - 1)) + length <= PAGE_SIZE ? this.#page(at) : undefined;
  }

  /** Writes `bytes` at the start of entry `idx` (the rest of the union slot is left as it was). */
  writeEntry(idx: number, bytes: Uint8Array): void {
    this.#checkLength(bytes.length);
    const at = this.entryOffset(idx);
    const off = at & (PAGE_SIZE - 1);
    if (off + bytes.length <= PAGE_SIZE) this.#page(at).write(off, bytes);
    else this.#writeStraddling(at, bytes);
  }

  /** `copyEntryInto` for an entry that crosses a page boundary: one read of each page's part. */
  #copyStraddling(at: number, length: number, dest: Uint8Array, destOffset: number): void {
    for (let done = 0; done < length; ) {
      const off = at & (PAGE_SIZE - 1);
      const n = Math.min(length - done, PAGE_SIZE - off);
      this.#page(at).readInto(off, dest, destOffset + done, n);
      at += n;
      done += n;
    }
  }

  /** `writeEntry` for an entry that crosses a page boundary. */
  #writeStraddling(at: number, bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length; ) {
      const off = at & (PAGE_SIZE - 1);
      const n = Math.min(bytes.length - done, PAGE_SIZE - off);
      this.#page(at).write(off, bytes.subarray(done, done + n));
      at += n;
      done += n;
    }
  }

  #page(byte: number): Page {
    const p = this.#pages[byte >>> PAGE_SHIFT];
    if (p === undefined) outsidePages(byte);
    return p;
  }
  #checkLength(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.entrySize) tooLong(length, this.entrySize);
  }
}

// The throws below are out of line so that the hot accessors above stay small enough to inline.

function outsidePages(byte: number): never {
  throw new RangeError(`ring byte ${byte} is outside the ring's pages`);
}

function tooLong(length: number, entrySize: number): never {
  throw new RangeError(`entry access of ${length} bytes exceeds the ${entrySize}-byte entry`);
}

function tooSmall(dest: Uint8Array, destOffset: number, length: number): never {
  throw new RangeError(`${length} bytes do not fit at ${destOffset} of a ${dest.length}-byte buffer`);
}
