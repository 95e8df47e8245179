/**
 * A tiny layout vocabulary for wire structures: each field is an `[offset, width]` pair in bytes,
 * read and written little-endian over a DataView. Values that do not fit a field throw
 * RangeError rather than being truncated: checks happen at the byte layer.
 */

/**
 * `[offset, size]` in bytes. Scalar fields are 1, 2, 4 or 8 bytes (8-byte fields are read as
 * numbers and must stay below 2^53); other sizes describe nested structs and arrays.
 */
export type FieldSpec = readonly [offset: number, size: number];
/** A struct layout: field name -> `[offset, width]`. */
export type Layout = Readonly<Record<string, FieldSpec>>;

/** The largest `uint32_t`, 2^32 - 1. */
export const U32_MAX = 0xffffffff;

/**
 * Whether `v` is a `uint32_t`: an integer in 0..2^32-1 (not a fraction, negative, NaN or larger
 * number, nor a non-number). The one u32 range check of pvkit: the simulator's argument checks,
 * the ring macros and the guest SDK's wire values all use it.
 */
export function isU32(v: unknown): v is number {
  // `v >>> 0 === v` holds exactly for the integers 0..2^32-1.
  return typeof v === "number" && v >>> 0 === v;
}

/**
 * Whether `v` is a `uint64_t` as a JavaScript number: a non-negative safe integer (numbers stop
 * being exact at 2^53, so larger u64 values are not representable here).
 */
export function isU64(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Reads an unsigned little-endian field. */
export function readField(dv: DataView, base: number, spec: FieldSpec): number {
  const [off, width] = spec;
  const at = base + off;
  switch (width) {
    case 1:
      return dv.getUint8(at);
    case 2:
      return dv.getUint16(at, true);
    case 4:
      return dv.getUint32(at, true);
    case 8: {
      const v = dv.getBigUint64(at, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER))
        throw new RangeError(`u64 at +${off} exceeds 2^53: ${v}`);
      return Number(v);
    }
    default:
      throw new RangeError(`field at +${off} is ${width} bytes, not a scalar`);
  }
}

/** Writes an unsigned little-endian field; throws RangeError if `value` does not fit. */
export function writeField(dv: DataView, base: number, spec: FieldSpec, value: number): void {
  const [off, width] = spec;
  const at = base + off;
  if (width !== 1 && width !== 2 && width !== 4 && width !== 8) {
    throw new RangeError(`field at +${off} is ${width} bytes, not a scalar`);
  }
  const max = width === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * width) - 1;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`value ${value} does not fit a ${width}-byte field at +${off}`);
  }
  switch (width) {
    case 1:
      dv.setUint8(at, value);
      return;
    case 2:
      dv.setUint16(at, value, true);
      return;
    case 4:
      dv.setUint32(at, value, true);
      return;
    case 8:
      dv.setBigUint64(at, BigInt(value), true);
      return;
    default:
      throw new RangeError(`field at +${off} is ${width} bytes, not a scalar`);
  }
}

/** Reads a signed little-endian field (s8, s16, s32). */
export function readSignedField(dv: DataView, base: number, spec: FieldSpec): number {
  const [off, width] = spec;
  const at = base + off;
  switch (width) {
    case 1:
      return dv.getInt8(at);
    case 2:
      return dv.getInt16(at, true);
    case 4:
      return dv.getInt32(at, true);
    case 8:
      return Number(dv.getBigInt64(at, true));
    default:
      throw new RangeError(`field at +${off} is ${width} bytes, not a scalar`);
  }
}
