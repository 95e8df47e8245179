/**
 * An `EntryWriter` onto an unpublished slot of the shared ring, so that a producer encodes an
 * entry in place instead of into a private buffer that is then copied to the page. Internal to
 * the ring module.
 *
 * Why this is sound: a slot at or beyond `req_prod` (`rsp_prod`) belongs to the producer until
 * it moves the producer index, and the consumer reads only slots below it. A failed encode leaves
 * a partly written slot that nobody reads, and the next produce into that slot zeroes it again
 * first, so the published bytes are exactly those of a private encode: the codec's `size` bytes,
 * zeroed then encoded; the rest of the union slot untouched.
 *
 * A peer can write to an unpublished slot while we encode, so a codec that reads back what it
 * wrote may see the peer's bytes; they only ever reach that same peer.
 *
 * Every access goes through the `Page` after a check that it stays inside the entry. Stores
 * use the page's optional fast-path `store*` methods when it has them: the field and its value
 * were just checked here against the entry (which lies inside the page), so the page checks
 * only that the mapping is still alive and writable, on every store (a codec may unmap the
 * ring mid-encode). Pages without them get the checked `set*`. Used only for entries that lie
 * inside one page; an entry straddling a page boundary is encoded privately and copied in two
 * parts.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import { checkRange, type EntryWriter } from "./ring-codec.js";

export class SlotWriter implements EntryWriter {
  #page: Page;
  /** Byte offset of the entry within `#page`. */
  #base = 0;
  /** Bytes in this entry (the codec's `size`). */
  readonly size: number;

  constructor(page: Page, size: number) {
    this.#page = page;
    this.size = size;
  }

  /** Points the writer at the entry at `offset` of `page` and zeroes its `size` bytes. */
  open(page: Page, offset: number): void {
    this.#page = page;
    this.#base = offset;
    page.fill(0, offset, this.size);
  }

  getU8(offset: number): number {
    checkRange(this.size, offset, 1);
    return this.#page.getU8(this.#base + offset);
  }
  getU16(offset: number): number {
    checkRange(this.size, offset, 2);
    return this.#page.getU16(this.#base + offset);
  }
  getU32(offset: number): number {
    checkRange(this.size, offset, 4);
    return this.#page.getU32(this.#base + offset);
  }
  getU64(offset: number): number {
    checkRange(this.size, offset, 8);
    return this.#page.getU64(this.#base + offset);
  }
  getS8(offset: number): number {
    return (this.getU8(offset) << 24) >> 24;
  }
  getS16(offset: number): number {
    return (this.getU16(offset) << 16) >> 16;
  }
  getS32(offset: number): number {
    return this.getU32(offset) | 0;
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(this.size, offset, length);
    return this.#page.read(this.#base + offset, length);
  }
  // Values are checked here, with EntryBuffer's errors, before the Page is touched (the checked
  // setters check again; the fast-path stores do not); signed values go as two's complement.
  setU8(offset: number, value: number): void {
    checkRange(this.size, offset, 1);
    checkValue(value, 0, 0xff);
    const p = this.#page;
    if (p.storeU8 !== undefined) p.storeU8(this.#base + offset, value);
    else p.setU8(this.#base + offset, value);
  }
  setU16(offset: number, value: number): void {
    checkRange(this.size, offset, 2);
    checkValue(value, 0, 0xffff);
    const p = this.#page;
    if (p.storeU16 !== undefined) p.storeU16(this.#base + offset, value);
    else p.setU16(this.#base + offset, value);
  }
  setU32(offset: number, value: number): void {
    checkRange(this.size, offset, 4);
    checkValue(value, 0, 0xffffffff);
    const p = this.#page;
    if (p.storeU32 !== undefined) p.storeU32(this.#base + offset, value);
    else p.setU32(this.#base + offset, value);
  }
  setU64(offset: number, value: number): void {
    checkRange(this.size, offset, 8);
    checkValue(value, 0, Number.MAX_SAFE_INTEGER);
    const p = this.#page;
    if (p.storeU64 !== undefined) p.storeU64(this.#base + offset, value);
    else p.setU64(this.#base + offset, value);
  }
  setS8(offset: number, value: number): void {
    checkRange(this.size, offset, 1);
    checkValue(value, -0x80, 0x7f);
    const p = this.#page;
    if (p.storeU8 !== undefined) p.storeU8(this.#base + offset, value & 0xff);
    else p.setU8(this.#base + offset, value & 0xff);
  }
  setS16(offset: number, value: number): void {
    checkRange(this.size, offset, 2);
    checkValue(value, -0x8000, 0x7fff);
    const p = this.#page;
    if (p.storeU16 !== undefined) p.storeU16(this.#base + offset, value & 0xffff);
    else p.setU16(this.#base + offset, value & 0xffff);
  }
  setS32(offset: number, value: number): void {
    checkRange(this.size, offset, 4);
    checkValue(value, -0x80000000, 0x7fffffff);
    const p = this.#page;
    if (p.storeU32 !== undefined) p.storeU32(this.#base + offset, value >>> 0);
    else p.setU32(this.#base + offset, value >>> 0);
  }
  write(offset: number, src: Uint8Array): void {
    checkRange(this.size, offset, src.length);
    this.#page.write(this.#base + offset, src);
  }
}

/** Throws RangeError unless `value` is an integer in `[min, max]` (EntryBuffer's check and message). */
function checkValue(value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) doesNotFit(value, min, max);
}

function doesNotFit(value: number, min: number, max: number): never {
  throw new RangeError(`value ${value} does not fit [${min}, ${max}]`);
}
