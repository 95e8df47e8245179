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
import {
  __RING_SIZE,
  SHARED_RING_INIT_VALUES,
  SRING_RING_OFFSET,
  sring,
  XEN_PAGE_SHIFT,
  XEN_PAGE_SIZE,
} from "@pvkit/hypervisor-sim/abi";

const PAGE_SHIFT = XEN_PAGE_SHIFT;
const PAGE_SIZE = XEN_PAGE_SIZE;

/** The largest page order a multi-page ring may have here (Linux `XENBUS_MAX_RING_GRANT_ORDER`). */
export const MAX_RING_PAGE_ORDER = 4;

/** The page order of a page list (its length must be 2^order, order 0..4). @throws RangeError otherwise. */
export function ringPageOrder(nrPages: number): number {
  for (let order = 0; order <= MAX_RING_PAGE_ORDER; order++)
    if (nrPages === 1 << order) return order;
  throw new RangeError(
    `a ring needs 2^order pages with order 0..${MAX_RING_PAGE_ORDER}, not ${nrPages}`,
  );
}

/**
 * Byte offsets of the u32 fields of the shared header (`struct X_sring`), for `get` / `set`.
 * Numbers rather than field names: the ring ends read a producer index on every consume.
 */
export const REQ_PROD = sring.req_prod[0];
export const REQ_EVENT = sring.req_event[0];
export const RSP_PROD = sring.rsp_prod[0];
export const RSP_EVENT = sring.rsp_event[0];

/** Addressing of one ring area; holds no indices of its own. */
export class SharedRingArea {
  readonly #pages: readonly Page[];
  /** Page 0, which holds the header. */
  readonly #page0: Page;
  /** log2 of the number of pages. */
  readonly order: number;
  /** `sizeof(union X_sring_entry)` in bytes. */
  readonly entrySize: number;
  /** Whether every entry starts at a multiple of 8 bytes (`entrySize % 8 === 0`), so `copyEntryWords` applies. */
  readonly wordAligned: boolean;
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
      if (p.writable !== true)
        throw new RangeError(`ring page ${i} is mapped read-only; both ends write the ring`);
    });
    this.#pages = [...pages];
    this.#page0 = pages[0] as Page;
    this.entrySize = entrySize;
    this.wordAligned = entrySize % 8 === 0; // the entries start at 64, a multiple of 8
    this.ringSize = __RING_SIZE(PAGE_SIZE << this.order, entrySize);
    if (this.ringSize === 0) {
      throw new RangeError(
        `a ${entrySize}-byte entry does not fit in a ring of ${PAGE_SIZE << this.order} bytes`,
      );
    }
  }

  /** Reads the u32 header field at byte `field` (`REQ_PROD`, `REQ_EVENT`, `RSP_PROD`, `RSP_EVENT`). */
  get(field: number): number {
    return this.#page0.getU32(field);
  }

  /** Writes the u32 header field at byte `field` (`value` is taken modulo 2^32). */
  set(field: number, value: number): void {
    this.#page0.setU32(field, value >>> 0);
  }

  /** `SHARED_RING_INIT`: producers 0, event indices 1, `pvt` and `__pad` zeroed. Entries untouched. */
  initHeader(): void {
    const v = SHARED_RING_INIT_VALUES;
    this.set(REQ_PROD, v.req_prod);
    this.set(RSP_PROD, v.rsp_prod);
    this.set(REQ_EVENT, v.req_event);
    this.set(RSP_EVENT, v.rsp_event);
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
    if (!(destOffset >= 0 && destOffset + length <= dest.length))
      tooSmall(dest, destOffset, length);
    const at = this.entryOffset(idx);
    const off = at & (PAGE_SIZE - 1);
    // The usual case, an entry inside one page, stays small so that V8 inlines it.
    if (off + length <= PAGE_SIZE) this.#page(at).readInto(off, dest, destOffset, length);
    else this.#copyStraddling(at, length, dest, destOffset);
  }

  /**
   * `copyEntryInto` by 8-byte words, for entries whose size is a multiple of 8 (`wordAligned`):
   * the first `words` words of entry `idx` into `dest` from element 0.
   * @throws RangeError if the words exceed the entry or `dest`, or the ring is not word-aligned.
   */
  copyEntryWords(idx: number, words: number, dest: BigInt64Array): void {
    if (!this.wordAligned)
      throw new RangeError(`${this.entrySize}-byte entries are not 8-byte aligned`);
    this.#checkLength(8 * words);
    const at = this.entryOffset(idx);
    const off = at & (PAGE_SIZE - 1);
    if (off + 8 * words <= PAGE_SIZE) this.#page(at).readWords(off, dest, 0, words);
    else this.#copyWordsStraddling(at, words, dest);
  }

  /**
   * The page holding the `length` bytes at area offset `at` (an `entryOffset`) when they lie
   * inside one page (at byte `at & 4095` of it), else undefined.
   * @throws RangeError if `length` exceeds an entry.
   */
  pageHolding(at: number, length: number): Page | undefined {
    this.#checkLength(length);
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

  /** `copyEntryWords` for an entry that crosses a page boundary (at a word boundary: pages are 4096 bytes). */
  #copyWordsStraddling(at: number, words: number, dest: BigInt64Array): void {
    for (let done = 0; done < words; ) {
      const off = at & (PAGE_SIZE - 1);
      const n = Math.min(words - done, (PAGE_SIZE - off) >>> 3);
      this.#page(at).readWords(off, dest, done, n);
      at += 8 * n;
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
    if (!Number.isInteger(length) || length < 0 || length > this.entrySize)
      tooLong(length, this.entrySize);
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
  throw new RangeError(
    `${length} bytes do not fit at ${destOffset} of a ${dest.length}-byte buffer`,
  );
}
