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
 * Every access goes through the `Page` (its liveness and range checks), after a check that it
 * stays inside the entry. Used only for entries that lie inside one page; an entry straddling a
 * page boundary is encoded privately and copied in two parts.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import { checkRange, checkValue, type EntryWriter } from "./ring-codec.js";

/** The in-place `EntryWriter` of a ring end's producer (see the file header). */
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
  // Values are checked here, with EntryBuffer's errors, before the Page (which checks again) is
  // touched; signed values are stored as two's complement.
  setU8(offset: number, value: number): void {
    checkRange(this.size, offset, 1);
    checkValue(value, 0, 0xff);
    this.#page.setU8(this.#base + offset, value);
  }
  setU16(offset: number, value: number): void {
    checkRange(this.size, offset, 2);
    checkValue(value, 0, 0xffff);
    this.#page.setU16(this.#base + offset, value);
  }
  setU32(offset: number, value: number): void {
    checkRange(this.size, offset, 4);
    checkValue(value, 0, 0xffffffff);
    this.#page.setU32(this.#base + offset, value);
  }
  setU64(offset: number, value: number): void {
    checkRange(this.size, offset, 8);
    checkValue(value, 0, Number.MAX_SAFE_INTEGER);
    this.#page.setU64(this.#base + offset, value);
  }
  setS8(offset: number, value: number): void {
    checkRange(this.size, offset, 1);
    checkValue(value, -0x80, 0x7f);
    this.#page.setU8(this.#base + offset, value & 0xff);
  }
  setS16(offset: number, value: number): void {
    checkRange(this.size, offset, 2);
    checkValue(value, -0x8000, 0x7fff);
    this.#page.setU16(this.#base + offset, value & 0xffff);
  }
  setS32(offset: number, value: number): void {
    checkRange(this.size, offset, 4);
    checkValue(value, -0x80000000, 0x7fffffff);
    this.#page.setU32(this.#base + offset, value >>> 0);
  }
  write(offset: number, src: Uint8Array): void {
    checkRange(this.size, offset, src.length);
    this.#page.write(this.#base + offset, src);
  }
}
