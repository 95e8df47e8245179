/**
 * What `copy_from_guest` of a grant-table argument means for a JavaScript guest. Arguments are
 * objects with the C field names; an element that is not an object, or whose IN fields are not
 * integers in the range of their C type, cannot be the bytes of the C struct, so the op treats
 * it as a failed copy: -EFAULT for the hypercall at that element (earlier elements keep their
 * results, as in Xen's loops).
 */

/** Whether `v` is a plain object (a readable guest struct). */
export function isStruct(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** u8/u16/u32 range check. */
export function isUint(v: unknown, bits: 8 | 16 | 32): v is number {
  // `v >>> 0 === v` holds exactly for the integers 0..2^32-1 (not for fractions, negatives, NaN
  // or larger values); this runs for every field of every element, so it avoids Number.isInteger.
  return typeof v === "number" && v >>> 0 === v && (bits === 32 || v < 1 << bits);
}

/** u64 fields: any non-negative safe integer (the ABI's `isU64`). */
export { isU64 } from "../abi/struct.js";

/**
 * `guest_handle_okay(handle, count)`: an array holding at least `count` elements. A count of 0
 * is always fine (Xen's access_ok of 0 bytes), whatever the handle.
 */
export function handleOkay(h: unknown, count: number): h is unknown[] {
  return count === 0 || (Array.isArray(h) && h.length >= count);
}

/**
 * `__copy_to_guest_offset` of one array element: false when the guest array refuses the write
 * (a frozen or non-writable array stands for an unmapped guest buffer).
 */
export function copyToGuest(list: unknown[], i: number, value: number): boolean {
  try {
    list[i] = value;
    return list[i] === value;
  } catch {
    return false;
  }
}
