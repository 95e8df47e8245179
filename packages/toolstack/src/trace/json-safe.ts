/**
 * Turns a hypercall's argument snapshot into a small, JSON-safe value for a trace event's `args`:
 * bigints become decimal strings, byte buffers a "<Uint8Array 4096 bytes>" note, long arrays and
 * strings are cut (with a note of how much), nesting stops at a fixed depth, and `undefined`,
 * functions and symbols are left out. Keys keep their insertion order, so the output is
 * deterministic for a deterministic run.
 */

/** Limits of {@link jsonSafe}. */
const MAX_DEPTH = 4;
const MAX_ARRAY = 16;
const MAX_STRING = 200;

/** A JSON-safe copy of `v` (see the module comment); undefined for values JSON cannot hold. */
export function jsonSafe(v: unknown, depth = 0): unknown {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) ? v : String(v);
    case "string":
      return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}… (${v.length} chars)` : v;
    case "boolean":
      return v;
    case "bigint":
      return v.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (v === null) return null;
  if (ArrayBuffer.isView(v)) return `<${v.constructor.name} ${v.byteLength} bytes>`;
  if (v instanceof ArrayBuffer) return `<ArrayBuffer ${v.byteLength} bytes>`;
  if (depth >= MAX_DEPTH) return Array.isArray(v) ? `<array of ${v.length}>` : "<object>";
  if (Array.isArray(v)) {
    const out = v.slice(0, MAX_ARRAY).map((x) => jsonSafe(x, depth + 1) ?? null);
    if (v.length > MAX_ARRAY) out.push(`… ${v.length - MAX_ARRAY} more`);
    return out;
  }
  if (v instanceof Map || v instanceof Set) return `<${v.constructor.name} of ${v.size}>`;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const s = jsonSafe(x, depth + 1);
    if (s !== undefined) out[k] = s;
  }
  return out;
}
