/**
 * `struct blkif_response` as a TypeScript value, written whole.
 *
 * ```
 * x86_64-abi (16 bytes)                   x86_32-abi (12 bytes)
 * 0      8     9     10     12     16     0      8     9     10     12
 * | id   | op  | pad | status | pad  |    | id   | op  | pad | status |
 * ```
 *
 * XSA-216: Linux blkback and QEMU's qdisk once built the response on the stack and copied it
 * out, padding included, leaking stack bytes to the frontend. `encodeBlkifResponse` writes
 * every byte of the response — the pad bytes as zeros — whatever the slot held before (the
 * previous request), and whether or not the writer was zeroed. The rest of the ring entry
 * (bytes 16..111, or 12..107) is not the response's: it keeps the frontend's own request bytes,
 * as in Linux, which writes the response fields straight into the slot.
 */
import type { EntryReader, EntryWriter } from "@pvkit/guest-sdk";
import type { BlkifWire } from "./blkif-protocol.js";
import { type BlkifId, readBlkifId, writeBlkifId } from "./blkif-request.js";

/** `struct blkif_response`. */
export interface BlkifResponse {
  /** The request's id, echoed. */
  readonly id: BlkifId;
  /** The request's operation (for an indirect request: its `indirect_op`), u8. */
  readonly operation: number;
  /** `BLKIF_RSP_*` (s16): 0 OKAY, -1 ERROR, -2 EOPNOTSUPP; other values arrive from a hostile backend. */
  readonly status: number;
}

/**
 * Writes `rsp` into all `wire.responseSize` bytes of `out`, padding as zeros.
 * @throws RangeError if a value does not fit its field (id u64, operation u8, status s16).
 */
export function encodeBlkifResponse(rsp: BlkifResponse, out: EntryWriter, wire: BlkifWire): void {
  const w = wire.response;
  writeBlkifId(out, w.id, rsp.id);
  out.setU8(w.operation, rsp.operation);
  // The byte between operation and status, then status, then (x86_64) the tail padding.
  for (let at = w.operation + 1; at < w.status; at++) out.setU8(at, 0);
  out.setS16(w.status, rsp.status);
  for (let at = w.status + 2; at < wire.responseSize; at++) out.setU8(at, 0);
}

/** Reads a response from a private copy of one entry. Never throws on the contents. */
export function decodeBlkifResponse(input: EntryReader, wire: BlkifWire): BlkifResponse {
  const w = wire.response;
  return {
    id: readBlkifId(input, w.id),
    operation: input.getU8(w.operation),
    status: input.getS16(w.status),
  };
}

/**
 * `encodeBlkifResponse` for a response whose id is known as its two u32 halves (as a backend
 * read it from its private copy of the request): every one of the `wire.responseSize` bytes
 * written, the pad bytes as zeros (XSA-216), the same bytes as encoding
 * `{ id: hi * 2^32 + lo, operation, status }`.
 * @throws RangeError if a value does not fit its field.
 */
export function writeBlkifResponseFields(
  out: EntryWriter,
  wire: BlkifWire,
  idLo: number,
  idHi: number,
  operation: number,
  status: number,
): void {
  const w = wire.response;
  out.setU32(w.id, idLo);
  out.setU32(w.id + 4, idHi);
  out.setU8(w.operation, operation);
  for (let at = w.operation + 1; at < w.status; at++) out.setU8(at, 0);
  out.setS16(w.status, status);
  if (wire.responseSize === w.status + 6)
    out.setU32(w.status + 2, 0); // x86_64: 4 tail pad bytes
  else for (let at = w.status + 2; at < wire.responseSize; at++) out.setU8(at, 0);
}

/**
 * A private image of one response, all `wire.responseSize` bytes (the pads zero, XSA-216),
 * built with plain stores and copied into the response slot in one `write`: the backend's hot
 * path (`make_response` once per request). The same bytes as `writeBlkifResponseFields`.
 */
export class BlkifResponseImage {
  readonly #wire: BlkifWire;
  readonly #bytes: Uint8Array;
  readonly #dv: DataView;

  constructor(wire: BlkifWire) {
    this.#wire = wire;
    this.#bytes = new Uint8Array(wire.responseSize);
    this.#dv = new DataView(this.#bytes.buffer);
  }

  /**
   * Writes the response to the request whose u64 id is `idHi * 2^32 + idLo` into `out` (the
   * next response slot). @throws RangeError if a value does not fit its field.
   */
  writeTo(out: EntryWriter, idLo: number, idHi: number, operation: number, status: number): void {
    if (
      idLo >>> 0 !== idLo ||
      idHi >>> 0 !== idHi ||
      (operation & 0xff) !== operation ||
      !(status >= -0x8000 && status <= 0x7fff && Number.isInteger(status))
    )
      throw new RangeError(
        `response fields out of range: id ${idHi}:${idLo}, op ${operation}, status ${status}`,
      );
    const w = this.#wire.response;
    const dv = this.#dv;
    dv.setUint32(w.id, idLo, true);
    dv.setUint32(w.id + 4, idHi, true);
    dv.setUint8(w.operation, operation);
    dv.setInt16(w.status, status, true);
    out.write(0, this.#bytes);
  }
}
