/**
 * The one `xsd_sockmsg` codec (`xen/include/public/io/xs_wire.h`, `docs/misc/xenstore.txt`),
 * used by both ends: the guest's xenbus client and xenstored. A message is the 16-byte
 * little-endian header of `xs-wire.ts` (type, req_id, tx_id, len) followed by `len` payload bytes.
 *
 * - {@link encodeXsMessage} / {@link encodeXsMessageInto} write one message (a payload over
 *   XENSTORE_PAYLOAD_MAX is refused: neither end may send one).
 * - {@link XsMessageParser} reassembles messages from a byte stream cut anywhere (a socket, or a
 *   ring that moves at most 1024 bytes at a time) and reports a header whose `len` exceeds
 *   XENSTORE_PAYLOAD_MAX as {@link XS_OVERSIZE}, after which the stream is out of step for good
 *   (cxenstored's `handle_input` drops such a connection; a guest gives up on its ring).
 *
 * **Strings.** Xenstore paths, tokens, values, permission strings and error names are bytes;
 * the C ends treat them as `char *` with no character set. Where this codec turns payload bytes
 * into a JavaScript string it uses *byte strings*: one char per byte, U+0000..U+00FF (latin1),
 * so every byte sequence maps to one string and back without loss ({@link xsString},
 * {@link xsBytes}). A char above U+00FF has no byte and is refused with RangeError, never
 * truncated. Valid paths are ASCII (`is_valid_nodename`), so for them the choice is invisible;
 * for tokens and values it keeps arbitrary bytes exact. An API that offers a node's value as
 * text (the guest SDK's `read()` and `write(path, string)`) says which text encoding it applies
 * to the value bytes; the wire itself has none.
 */
import { XENSTORE_PAYLOAD_MAX, XSD_SOCKMSG_SIZE } from "./xs-wire.js";

/** One message: a decoded `struct xsd_sockmsg` header and its payload (exactly `len` bytes). */
export interface XsMessage {
  /** `XS_*` message type. */
  readonly type: number;
  /** Request id, echoed in the reply (0 in watch events). */
  readonly req_id: number;
  /** Transaction id, 0 outside transactions. */
  readonly tx_id: number;
  /** The payload bytes (NUL-separated strings, or a WRITE's value after its path). */
  readonly payload: Uint8Array;
}

/** The four header fields of `struct xsd_sockmsg`. */
export interface XsHeader {
  readonly type: number;
  readonly req_id: number;
  readonly tx_id: number;
  /** Payload bytes that follow the header. */
  readonly len: number;
}

function checkU32(name: string, v: number): void {
  if (!(v >>> 0 === v)) throw new RangeError(`xsd_sockmsg.${name} ${v} is not a u32`);
}

function putU32(out: Uint8Array, off: number, v: number): void {
  out[off] = v;
  out[off + 1] = v >>> 8;
  out[off + 2] = v >>> 16;
  out[off + 3] = v >>> 24;
}

function getU32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

/** Bytes of one encoded message with a payload of `payloadLength` bytes (header + payload). */
export function xsMessageSize(payloadLength: number): number {
  return XSD_SOCKMSG_SIZE + payloadLength;
}

/**
 * Writes one message (header + payload) into `out` at byte `offset`, for callers that pack
 * several messages into one buffer (one socket write for a batch of replies).
 * @returns the offset just past the message.
 * @throws RangeError if a header field is not a u32, the payload exceeds XENSTORE_PAYLOAD_MAX
 *   (4096 bytes), or the message does not fit in `out`.
 */
export function encodeXsMessageInto(out: Uint8Array, offset: number, msg: XsMessage): number {
  checkU32("type", msg.type);
  checkU32("req_id", msg.req_id);
  checkU32("tx_id", msg.tx_id);
  const len = msg.payload.length;
  if (len > XENSTORE_PAYLOAD_MAX)
    throw new RangeError(`xenstore payload of ${len} bytes exceeds ${XENSTORE_PAYLOAD_MAX}`);
  const end = offset + XSD_SOCKMSG_SIZE + len;
  if (!Number.isInteger(offset) || offset < 0 || end > out.length)
    throw new RangeError(
      `a ${end - offset}-byte message does not fit at offset ${offset} of ${out.length} bytes`,
    );
  putU32(out, offset, msg.type);
  putU32(out, offset + 4, msg.req_id);
  putU32(out, offset + 8, msg.tx_id);
  putU32(out, offset + 12, len);
  out.set(msg.payload, offset + XSD_SOCKMSG_SIZE);
  return end;
}

/**
 * Serialises one message: header + payload in a new array.
 * @throws RangeError if a header field is not a u32 or the payload exceeds XENSTORE_PAYLOAD_MAX.
 */
export function encodeXsMessage(msg: XsMessage): Uint8Array {
  const out = new Uint8Array(xsMessageSize(msg.payload.length));
  encodeXsMessageInto(out, 0, msg);
  return out;
}

/**
 * The header of the message starting at `bytes[offset]`.
 * @throws RangeError if fewer than 16 bytes follow `offset`.
 */
export function decodeXsHeader(bytes: Uint8Array, offset = 0): XsHeader {
  if (!(offset >= 0) || offset + XSD_SOCKMSG_SIZE > bytes.length)
    throw new RangeError("short xsd_sockmsg header");
  return {
    type: getU32(bytes, offset),
    req_id: getU32(bytes, offset + 4),
    tx_id: getU32(bytes, offset + 8),
    len: getU32(bytes, offset + 12),
  };
}

/**
 * Decodes every message in `bytes`, which must hold whole messages only (payloads are copies).
 * @throws RangeError on a truncated header or payload.
 */
export function decodeXsMessages(bytes: Uint8Array): XsMessage[] {
  const out: XsMessage[] = [];
  let off = 0;
  while (off < bytes.length) {
    const h = decodeXsHeader(bytes, off);
    const end = off + XSD_SOCKMSG_SIZE + h.len;
    if (end > bytes.length) throw new RangeError("truncated xsd_sockmsg payload");
    // A plain Uint8Array copy, also when `bytes` is a Node Buffer (whose slice is a view).
    const payload = new Uint8Array(bytes.subarray(off + XSD_SOCKMSG_SIZE, end));
    out.push({ type: h.type, req_id: h.req_id, tx_id: h.tx_id, payload });
    off = end;
  }
  return out;
}

/** What {@link XsMessageParser.next} returns once a header has announced more than 4096 bytes. */
export const XS_OVERSIZE: unique symbol = Symbol("xs-oversize");

/** Room for two maximal messages: a stream rarely holds more unparsed bytes than that. */
const INITIAL_BUFFER = 2 * (XSD_SOCKMSG_SIZE + XENSTORE_PAYLOAD_MAX);

/**
 * Incremental parser: {@link XsMessageParser.push} bytes as they arrive (they are copied, so the caller may reuse
 * its buffer), then call {@link XsMessageParser.next} until it returns undefined. Each message's payload is its
 * own copy, valid for ever. Once a header announces more than XENSTORE_PAYLOAD_MAX bytes the
 * parser returns {@link XS_OVERSIZE} for good and ignores further bytes.
 */
export class XsMessageParser {
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #broken = false;

  /** Bytes received and not yet returned as a message (0 once broken). */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Bytes still missing before the oldest unreturned message is complete: the rest of its
   * 16-byte header while that is incomplete, then the rest of its payload (0 once it is all
   * here, or once broken). A reader that must not consume beyond the current message (a ring
   * whose next request may have to wait) reads exactly this many.
   */
  get wanted(): number {
    if (this.#broken) return 0;
    const held = this.#end - this.#start;
    if (held < XSD_SOCKMSG_SIZE) return XSD_SOCKMSG_SIZE - held;
    const len = getU32(this.#buf, this.#start + 12);
    if (len > XENSTORE_PAYLOAD_MAX) return 0;
    return Math.max(0, XSD_SOCKMSG_SIZE + len - held);
  }

  /** Appends received bytes. */
  push(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n === 0 || this.#broken) return;
    if (this.#end + n > this.#buf.length) {
      const held = this.#end - this.#start;
      if (held + n > this.#buf.length) {
        const grown = new Uint8Array(Math.max(INITIAL_BUFFER, 2 * (held + n)));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = held;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += n;
  }

  /** The next complete message, undefined if more bytes are needed, or XS_OVERSIZE. */
  next(): XsMessage | typeof XS_OVERSIZE | undefined {
    if (this.#broken) return XS_OVERSIZE;
    const s = this.#start;
    if (this.#end - s < XSD_SOCKMSG_SIZE) return undefined;
    const b = this.#buf;
    const len = getU32(b, s + 12);
    if (len > XENSTORE_PAYLOAD_MAX) {
      this.#broken = true;
      this.#buf = new Uint8Array(0);
      this.#start = this.#end = 0;
      return XS_OVERSIZE;
    }
    const end = s + XSD_SOCKMSG_SIZE + len;
    if (end > this.#end) return undefined;
    const msg: XsMessage = {
      type: getU32(b, s),
      req_id: getU32(b, s + 4),
      tx_id: getU32(b, s + 8),
      payload: b.slice(s + XSD_SOCKMSG_SIZE, end),
    };
    if (end === this.#end) this.#start = this.#end = 0;
    else this.#start = end;
    return msg;
  }
}

// ---- payload strings ---------------------------------------------------------------------------

/** Chars per `String.fromCharCode` call (well below engines' argument limits). */
const CHUNK = 8192;

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
/**
 * Node's native latin1 decoder (`Buffer.prototype.latin1Slice`) where there is one: the same
 * one-char-per-byte mapping, several times faster than `String.fromCharCode`. Elsewhere the
 * portable path below is used.
 */
const nativeLatin1: Latin1Slice | undefined = (
  globalThis as { Buffer?: { prototype?: { latin1Slice?: Latin1Slice } } }
).Buffer?.prototype?.latin1Slice;

/**
 * The byte string of `bytes[start..end)`: one char (U+0000..U+00FF) per byte, lossless (see the
 * file header).
 */
export function xsString(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (end <= start) return "";
  if (nativeLatin1 !== undefined) return nativeLatin1.call(bytes, start, end);
  if (end - start <= CHUNK)
    return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  let s = "";
  for (let i = start; i < end; i += CHUNK)
    s += String.fromCharCode.apply(
      null,
      bytes.subarray(i, Math.min(end, i + CHUNK)) as unknown as number[],
    );
  return s;
}

/**
 * The bytes of byte string `s`: one byte per char.
 * @throws RangeError if a char is above U+00FF (it has no byte; it is not truncated).
 */
export function xsBytes(s: string): Uint8Array {
  const n = s.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff)
      throw new RangeError(
        `char U+${c.toString(16).toUpperCase().padStart(4, "0")} at ${i} is not a byte; xenstore strings are bytes (one char per byte, U+0000..U+00FF)`,
      );
    out[i] = c;
  }
  return out;
}

/**
 * `a\0b\0...`: each part (a byte string or bytes) followed by NUL, as requests carry their
 * arguments; with `lastTerminated` false the last part is left bare (WRITE's value).
 * @throws RangeError for a string part holding a char above U+00FF.
 */
export function nulJoin(
  parts: readonly (string | Uint8Array)[],
  lastTerminated = true,
): Uint8Array {
  let total = lastTerminated ? 0 : -1;
  for (const p of parts) total += p.length + 1;
  const out = new Uint8Array(Math.max(0, total));
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (typeof p === "string") {
      for (let k = 0; k < p.length; k++) {
        const c = p.charCodeAt(k);
        if (c > 0xff) xsBytes(p); // throws the RangeError with its message
        out[off++] = c;
      }
    } else {
      out.set(p, off);
      off += p.length;
    }
    if (lastTerminated || i < parts.length - 1) out[off++] = 0;
  }
  return out;
}

/**
 * Splits a NUL-separated payload into byte strings. A trailing NUL ends the last string; bytes
 * after the last NUL (none in well-formed replies) form a final string.
 */
export function nulSplit(payload: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const nul = payload.indexOf(0, start);
    if (nul < 0) break;
    out.push(xsString(payload, start, nul));
    start = nul + 1;
  }
  if (start < payload.length) out.push(xsString(payload, start));
  return out;
}
