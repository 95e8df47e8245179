/**
 * Byte-stream rings inside one page: the console (`xencons_interface`) and xenstore
 * (`xenstore_domain_interface`) rings. Each direction is a power-of-two byte array plus two
 * free-running u32 byte counters; byte `i` of the stream sits at `data[i & (size - 1)]`.
 *
 * ```
 *  page:  [ ... data[0 .. size) ... ] ... [cons u32] [prod u32] ...
 *  stream: cons ──── unread bytes ────> prod        (prod - cons <= size, u32 arithmetic)
 * ```
 *
 * Readers and writers keep no index of their own: every call reads both counters from the
 * page (as hvc_xen, xenconsoled and xenstored do), so a peer can change them at any time. A
 * pair with `prod - cons > size` is corrupt: the call throws RingProtocolError
 * ("byte-ring-index") and neither reads nor writes a data byte. The error is not sticky: a
 * later call works again once the peer repairs the counters (xenstore reconnection resets them).
 */
import type { Page } from "@pvkit/hypervisor-sim";
import {
  XENCONS_IN_SIZE,
  XENCONS_OUT_SIZE,
  XENSTORE_RING_SIZE,
  xencons_interface,
  xenstore_domain_interface,
  XEN_PAGE_SIZE,
} from "@pvkit/hypervisor-sim/abi";
import { RingProtocolError } from "./ring-error.js";

/** Where one direction of a byte ring lives in its page (all offsets in bytes). */
export interface ByteRingLayout {
  /** Offset of the data array. */
  readonly dataOffset: number;
  /** Size of the data array in bytes; a power of two. */
  readonly size: number;
  /** Offset of the consumer's u32 counter. */
  readonly consOffset: number;
  /** Offset of the producer's u32 counter. */
  readonly prodOffset: number;
  /** A label for error messages. */
  readonly name?: string;
}

/** Console input, backend → guest: `in[1024]`, `in_cons`, `in_prod` (`io/console.h`). */
export const consoleInRing: ByteRingLayout = {
  dataOffset: xencons_interface.in[0],
  size: XENCONS_IN_SIZE,
  consOffset: xencons_interface.in_cons[0],
  prodOffset: xencons_interface.in_prod[0],
  name: "xencons in",
};
/** Console output, guest → backend: `out[2048]`, `out_cons`, `out_prod` (`io/console.h`). */
export const consoleOutRing: ByteRingLayout = {
  dataOffset: xencons_interface.out[0],
  size: XENCONS_OUT_SIZE,
  consOffset: xencons_interface.out_cons[0],
  prodOffset: xencons_interface.out_prod[0],
  name: "xencons out",
};
/** XenStore requests, guest → xenstored: `req[1024]`, `req_cons`, `req_prod` (`io/xs_wire.h`). */
export const xenstoreRequestRing: ByteRingLayout = {
  dataOffset: xenstore_domain_interface.req[0],
  size: XENSTORE_RING_SIZE,
  consOffset: xenstore_domain_interface.req_cons[0],
  prodOffset: xenstore_domain_interface.req_prod[0],
  name: "xenstore req",
};
/** XenStore replies and watch events, xenstored → guest: `rsp[1024]`, `rsp_cons`, `rsp_prod`. */
export const xenstoreResponseRing: ByteRingLayout = {
  dataOffset: xenstore_domain_interface.rsp[0],
  size: XENSTORE_RING_SIZE,
  consOffset: xenstore_domain_interface.rsp_cons[0],
  prodOffset: xenstore_domain_interface.rsp_prod[0],
  name: "xenstore rsp",
};

function checkLayout(l: ByteRingLayout): void {
  const pow2 = Number.isInteger(l.size) && l.size > 0 && (l.size & (l.size - 1)) === 0;
  const fits =
    Number.isInteger(l.dataOffset) && l.dataOffset >= 0 && l.dataOffset + l.size <= XEN_PAGE_SIZE;
  const u32 = (o: number): boolean => Number.isInteger(o) && o >= 0 && o + 4 <= XEN_PAGE_SIZE;
  if (!pow2 || !fits || !u32(l.consOffset) || !u32(l.prodOffset)) {
    throw new RangeError(`bad byte ring layout ${JSON.stringify(l)}`);
  }
}

/** Shared logic: the two counters and the corruption check. */
abstract class ByteRingEnd {
  protected readonly page: Page;
  /** The layout of this direction. */
  readonly layout: ByteRingLayout;

  constructor(page: Page, layout: ByteRingLayout) {
    checkLayout(layout);
    this.page = page;
    this.layout = layout;
  }

  /** Ring capacity in bytes. */
  get size(): number {
    return this.layout.size;
  }

  /**
   * Snapshot of `{ cons, prod, used }` with `used = prod - cons` (u32).
   * @throws RingProtocolError ("byte-ring-index") if `used > size`.
   */
  protected indices(): { cons: number; prod: number; used: number } {
    const cons = this.page.getU32(this.layout.consOffset);
    const prod = this.page.getU32(this.layout.prodOffset);
    const used = (prod - cons) >>> 0;
    if (used > this.layout.size) {
      throw new RingProtocolError(
        { reason: "byte-ring-index", prod, cons, size: this.layout.size },
        this.layout.name,
      );
    }
    return { cons, prod, used };
  }
}

/** The producer side of a byte ring: writes as much as fits and publishes `prod`. */
export class ByteRingWriter extends ByteRingEnd {
  /** Bytes that can be written now: `size - (prod - cons)`. @throws RingProtocolError if corrupt. */
  get free(): number {
    return this.layout.size - this.indices().used;
  }

  /**
   * Copies as many leading bytes of `src` as fit (wrapping at the end of the data array),
   * then publishes `prod += n`. Returns n (0 when full); the caller notifies the peer if n > 0.
   * @throws RingProtocolError ("byte-ring-index") before writing anything if the counters are corrupt.
   */
  write(src: Uint8Array): number {
    const { prod, used } = this.indices();
    const n = Math.min(src.length, this.layout.size - used);
    const first = this.layout.size - (prod & (this.layout.size - 1));
    if (n === src.length && n <= first) {
      // All of it, without wrapping: one copy and no subarray (a subarray of a small array
      // that lives on the JS heap makes V8 move its bytes to a buffer of their own first).
      if (n > 0) {
        this.page.write(this.layout.dataOffset + (prod & (this.layout.size - 1)), src);
        this.page.setU32(this.layout.prodOffset, (prod + n) >>> 0);
      }
      return n;
    }
    let done = 0;
    while (done < n) {
      const at = ((prod + done) >>> 0) & (this.layout.size - 1);
      const chunk = Math.min(n - done, this.layout.size - at);
      this.page.write(this.layout.dataOffset + at, src.subarray(done, done + chunk));
      done += chunk;
    }
    // (write barrier in C: data before the index)
    if (n > 0) this.page.setU32(this.layout.prodOffset, (prod + n) >>> 0);
    return n;
  }
}

/** The consumer side of a byte ring: peek at available bytes, then advance `cons`. */
export class ByteRingReader extends ByteRingEnd {
  /** Bytes waiting: `prod - cons`. @throws RingProtocolError if corrupt. */
  get available(): number {
    return this.indices().used;
  }

  /**
   * A private copy of up to `max` waiting bytes (all of them by default) without consuming them.
   * @throws RingProtocolError ("byte-ring-index") before reading anything if the counters are corrupt.
   */
  peek(max = this.layout.size): Uint8Array {
    const { cons, used } = this.indices();
    const n = Math.max(0, Math.min(used, Math.floor(max)));
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const at = ((cons + done) >>> 0) & (this.layout.size - 1);
      const chunk = Math.min(n - done, this.layout.size - at);
      this.page.readInto(this.layout.dataOffset + at, out, done, chunk);
      done += chunk;
    }
    return out;
  }

  /**
   * Consumes `n` bytes: `cons += n`. The caller notifies the peer (it may be waiting for space).
   * @throws RangeError if fewer than `n` bytes are waiting; RingProtocolError if corrupt.
   */
  advance(n: number): void {
    const { cons, used } = this.indices();
    if (!Number.isInteger(n) || n < 0 || n > used)
      throw new RangeError(`cannot advance ${n} bytes: ${used} waiting`);
    // (full barrier in C: finish reading the data before releasing the space)
    if (n > 0) this.page.setU32(this.layout.consOffset, (cons + n) >>> 0);
  }

  /**
   * Consumes up to `max` waiting bytes into `dest` from `destOffset` (no array is allocated):
   * `peek` + `advance` in one pass over the counters. Returns how many were copied (0 when
   * empty); the caller notifies the peer if any were.
   * @throws RangeError if `[destOffset, destOffset + max)` runs outside `dest`;
   *   RingProtocolError ("byte-ring-index") before reading anything if the counters are corrupt.
   */
  readInto(dest: Uint8Array, destOffset: number, max: number): number {
    if (!(destOffset >= 0 && max >= 0 && destOffset + max <= dest.length))
      throw new RangeError(
        `readInto: [${destOffset}, ${destOffset + max}) runs outside ${dest.length}`,
      );
    const { cons, used } = this.indices();
    const n = Math.min(used, Math.floor(max));
    let done = 0;
    while (done < n) {
      const at = ((cons + done) >>> 0) & (this.layout.size - 1);
      const chunk = Math.min(n - done, this.layout.size - at);
      this.page.readInto(this.layout.dataOffset + at, dest, destOffset + done, chunk);
      done += chunk;
    }
    // (full barrier in C: finish reading the data before releasing the space)
    if (n > 0) this.page.setU32(this.layout.consOffset, (cons + n) >>> 0);
    return n;
  }

  /** `peek(max)` then `advance` over what was returned. */
  read(max = this.layout.size): Uint8Array {
    const bytes = this.peek(max);
    this.advance(bytes.length);
    return bytes;
  }
}
