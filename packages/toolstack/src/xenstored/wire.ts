/**
 * The `xsd_sockmsg` codec: one message is a 16-byte little-endian header (type, req_id, tx_id,
 * len) followed by `len` payload bytes. {@link XsMessageParser} reassembles messages from a byte
 * stream that may split them anywhere (a socket, or a ring that carries at most 1024 bytes at a
 * time), and reports a header whose `len` exceeds XENSTORE_PAYLOAD_MAX, which xenstored answers by
 * dropping the connection (`handle_input` in 4.17 `xenstored_core.c`).
 */
import { XENSTORE_PAYLOAD_MAX, XSD_SOCKMSG_SIZE } from "./xs-wire.js";

/** One decoded message. `payload` is exactly `len` bytes. */
export interface XsMessage {
  readonly type: number;
  readonly req_id: number;
  readonly tx_id: number;
  readonly payload: Uint8Array;
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} ${v} is not a u32`);
}

/**
 * Serialises one message (header + payload). The payload length is not capped here, so tests
 * can build the oversized requests xenstored must reject; servers cap replies themselves.
 * @throws RangeError if a header field is not a u32.
 */
export function encodeMessage(msg: XsMessage): Uint8Array {
  checkU32("type", msg.type);
  checkU32("req_id", msg.req_id);
  checkU32("tx_id", msg.tx_id);
  checkU32("len", msg.payload.length);
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + msg.payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, msg.type, true);
  dv.setUint32(4, msg.req_id, true);
  dv.setUint32(8, msg.tx_id, true);
  dv.setUint32(12, msg.payload.length, true);
  out.set(msg.payload, XSD_SOCKMSG_SIZE);
  return out;
}

/** The header fields of a message starting at `bytes[offset]` (at least 16 bytes must follow). */
export function decodeHeader(bytes: Uint8Array, offset = 0): { type: number; req_id: number; tx_id: number; len: number } {
  if (offset < 0 || offset + XSD_SOCKMSG_SIZE > bytes.length) throw new RangeError("short xsd_sockmsg header");
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, XSD_SOCKMSG_SIZE);
  return { type: dv.getUint32(0, true), req_id: dv.getUint32(4, true), tx_id: dv.getUint32(8, true), len: dv.getUint32(12, true) };
}

/**
 * Decodes every message in `bytes`, which must hold whole messages only.
 * @throws RangeError on a truncated message.
 */
export function decodeMessages(bytes: Uint8Array): XsMessage[] {
  const out: XsMessage[] = [];
  let off = 0;
  while (off < bytes.length) {
    const h = decodeHeader(bytes, off);
    const end = off + XSD_SOCKMSG_SIZE + h.len;
    if (end > bytes.length) throw new RangeError("truncated xsd_sockmsg payload");
    out.push({ type: h.type, req_id: h.req_id, tx_id: h.tx_id, payload: bytes.slice(off + XSD_SOCKMSG_SIZE, end) });
    off = end;
  }
  return out;
}

/** What {@link XsMessageParser.next} yields when a header announces more than 4096 payload bytes. */
export const OVERSIZE = Symbol("oversize");

/**
 * Incremental parser: `push()` bytes as they arrive, then call `next()` until it returns
 * undefined. Once it has returned {@link OVERSIZE} the stream is out of sync for good and the
 * parser returns OVERSIZE forever (the caller drops the connection).
 */
export class XsMessageParser {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #broken = false;

  /** Bytes received but not yet returned as a message. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Appends received bytes (copied, so the caller may reuse its buffer). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.#broken) return;
    this.#chunks.push(chunk.slice());
    this.#buffered += chunk.length;
  }

  /** The next complete message, undefined if more bytes are needed, or OVERSIZE. */
  next(): XsMessage | typeof OVERSIZE | undefined {
    if (this.#broken) return OVERSIZE;
    if (this.#buffered < XSD_SOCKMSG_SIZE) return undefined;
    const head = this.#peek(XSD_SOCKMSG_SIZE);
    const h = decodeHeader(head);
    if (h.len > XENSTORE_PAYLOAD_MAX) {
      this.#broken = true;
      this.#chunks = [];
      this.#buffered = 0;
      return OVERSIZE;
    }
    if (this.#buffered < XSD_SOCKMSG_SIZE + h.len) return undefined;
    const all = this.#take(XSD_SOCKMSG_SIZE + h.len);
    return { type: h.type, req_id: h.req_id, tx_id: h.tx_id, payload: all.subarray(XSD_SOCKMSG_SIZE) };
  }

  #peek(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let got = 0;
    for (const c of this.#chunks) {
      const k = Math.min(c.length, n - got);
      out.set(c.subarray(0, k), got);
      got += k;
      if (got === n) break;
    }
    return out;
  }

  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - got);
      out.set(c.subarray(0, k), got);
      got += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}
