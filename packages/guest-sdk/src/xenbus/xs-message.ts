/**
 * The guest's side of the `xsd_sockmsg` wire format (`io/xs_wire.h`, `docs/misc/xenstore.txt`):
 * encoding requests, and reassembling replies and watch events from the bytes of the response
 * ring, which may deliver a message in pieces (the ring holds 1024 bytes; a reply may be 4112).
 *
 * ```
 * [type u32][req_id u32][tx_id u32][len u32] [payload: len bytes]   little-endian, len <= 4096
 * ```
 */
import { XENSTORE_PAYLOAD_MAX, XSD_SOCKMSG_SIZE, xsd_sockmsg } from "@pvkit/hypervisor-sim/abi";

/** One message. `payload` is exactly `len` bytes. */
export interface XsWireMessage {
  readonly type: number;
  readonly req_id: number;
  readonly tx_id: number;
  readonly payload: Uint8Array;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

/** UTF-8 bytes of `s`. */
export function bytesOf(s: string): Uint8Array {
  return utf8.encode(s);
}

/** `s` decoded as UTF-8 (xenstore values are bytes; use the byte APIs to keep them exact). */
export function textOf(b: Uint8Array): string {
  return utf8Decoder.decode(b);
}

/** `a\0b\0...`: each string followed by NUL, as requests carry their arguments. */
export function nulJoin(parts: readonly (string | Uint8Array)[], lastTerminated = true): Uint8Array {
  const chunks = parts.map((p) => (typeof p === "string" ? bytesOf(p) : p));
  const total = chunks.reduce((n, c) => n + c.length + 1, 0) - (lastTerminated ? 0 : 1);
  const out = new Uint8Array(Math.max(0, total));
  let off = 0;
  chunks.forEach((c, i) => {
    out.set(c, off);
    off += c.length;
    if (lastTerminated || i < chunks.length - 1) out[off++] = 0;
  });
  return out;
}

/**
 * Splits a NUL-separated payload into strings. A trailing NUL ends the last string; bytes after
 * the last NUL (none in well-formed replies) form a final string.
 */
export function nulSplit(payload: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      out.push(textOf(payload.subarray(start, i)));
      start = i + 1;
    }
  }
  if (start < payload.length) out.push(textOf(payload.subarray(start)));
  return out;
}

function u32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`xsd_sockmsg.${name} ${v} is not a u32`);
}

/**
 * Header plus payload.
 * @throws RangeError if a header field is not a u32 or the payload exceeds XENSTORE_PAYLOAD_MAX.
 */
export function encodeXsMessage(msg: XsWireMessage): Uint8Array {
  u32("type", msg.type);
  u32("req_id", msg.req_id);
  u32("tx_id", msg.tx_id);
  if (msg.payload.length > XENSTORE_PAYLOAD_MAX) {
    throw new RangeError(`xenstore payload of ${msg.payload.length} bytes exceeds ${XENSTORE_PAYLOAD_MAX}`);
  }
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + msg.payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(xsd_sockmsg.type[0], msg.type, true);
  dv.setUint32(xsd_sockmsg.req_id[0], msg.req_id, true);
  dv.setUint32(xsd_sockmsg.tx_id[0], msg.tx_id, true);
  dv.setUint32(xsd_sockmsg.len[0], msg.payload.length, true);
  out.set(msg.payload, XSD_SOCKMSG_SIZE);
  return out;
}

/** What {@link XsMessageAssembler.next} returns for a header announcing more than 4096 bytes. */
export const XS_OVERSIZE = Symbol("xs-oversize");

/**
 * Reassembles messages from a byte stream split anywhere. After it has returned
 * {@link XS_OVERSIZE} the stream is out of step for good and it keeps returning that.
 */
export class XsMessageAssembler {
  readonly #header = new Uint8Array(XSD_SOCKMSG_SIZE);
  #headerFill = 0;
  #payload: Uint8Array | undefined;
  #payloadFill = 0;
  #broken = false;
  #ready: XsWireMessage[] = [];

  /** Bytes of an incomplete message held. */
  get partial(): number {
    return this.#headerFill + this.#payloadFill;
  }

  /** Feeds bytes (copied). */
  push(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length && !this.#broken) {
      if (this.#headerFill < XSD_SOCKMSG_SIZE) {
        const k = Math.min(XSD_SOCKMSG_SIZE - this.#headerFill, bytes.length - off);
        this.#header.set(bytes.subarray(off, off + k), this.#headerFill);
        this.#headerFill += k;
        off += k;
        if (this.#headerFill < XSD_SOCKMSG_SIZE) return;
        const len = new DataView(this.#header.buffer).getUint32(xsd_sockmsg.len[0], true);
        if (len > XENSTORE_PAYLOAD_MAX) {
          this.#broken = true;
          return;
        }
        this.#payload = new Uint8Array(len);
        this.#payloadFill = 0;
      }
      const p = this.#payload!;
      const k = Math.min(p.length - this.#payloadFill, bytes.length - off);
      p.set(bytes.subarray(off, off + k), this.#payloadFill);
      this.#payloadFill += k;
      off += k;
      if (this.#payloadFill === p.length) {
        const dv = new DataView(this.#header.buffer);
        this.#ready.push({
          type: dv.getUint32(xsd_sockmsg.type[0], true),
          req_id: dv.getUint32(xsd_sockmsg.req_id[0], true),
          tx_id: dv.getUint32(xsd_sockmsg.tx_id[0], true),
          payload: p,
        });
        this.#headerFill = 0;
        this.#payload = undefined;
        this.#payloadFill = 0;
      }
    }
  }

  /** The next complete message, undefined if none, or XS_OVERSIZE once the stream is broken. */
  next(): XsWireMessage | typeof XS_OVERSIZE | undefined {
    const m = this.#ready.shift();
    if (m !== undefined) return m;
    return this.#broken ? XS_OVERSIZE : undefined;
  }
}
