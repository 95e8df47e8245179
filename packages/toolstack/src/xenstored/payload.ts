/**
 * Request-argument parsing with cxenstored's exact rules (4.17 `xenstored_core.c`, `xs_lib.c`).
 * Strings are xs_wire byte strings (one char per byte, lossless; `xsString` of the codec in
 * `@pvkit/hypervisor-sim/abi`): paths are ASCII by the time they are valid, while tokens and
 * values may hold any byte.
 */
import { xsString } from "@pvkit/hypervisor-sim/abi";

/** `xs_count_strings`: the number of NUL bytes in the payload. */
export function countStrings(p: Uint8Array): number {
  let n = 0;
  for (let i = p.indexOf(0); i >= 0; i = p.indexOf(0, i + 1)) n++;
  return n;
}

/**
 * `get_strings`: the NUL-terminated strings at the front of the payload. Bytes after the last
 * NUL are not a string (a WRITE value has no terminator and is read separately).
 */
export function getStrings(p: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = p.indexOf(0); i >= 0; i = p.indexOf(0, start)) {
    out.push(xsString(p, start, i));
    start = i + 1;
  }
  return out;
}

/** `onearg`: the payload must be exactly one string with its NUL as the last byte. */
export function oneArg(p: Uint8Array): string | undefined {
  if (p.length === 0) return undefined;
  const nul = p.indexOf(0);
  if (nul !== p.length - 1) return undefined;
  return xsString(p, 0, nul);
}

/** C `atoi` (as glibc's strtol base 10, truncated to int): leading space, sign, digits; 0 if none. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s)!;
  if (!m[2]) return 0;
  let v = BigInt(m[2]);
  if (m[1] === "-") v = -v;
  // strtol saturates at LONG_MIN/LONG_MAX, then the int conversion keeps the low 32 bits.
  const max = (1n << 63n) - 1n;
  if (v > max) v = max;
  if (v < -max - 1n) v = -max - 1n;
  return Number(BigInt.asIntN(32, v));
}

/** `atoi` stored into an `unsigned int` (u32), as cxenstored does for domids and ports. */
export function atou(s: string): number {
  return atoi(s) >>> 0;
}

/**
 * C `strtol(s, &end, 0)` truncated to u32, as `xs_strings_to_perms` parses a domid: optional
 * space and sign, then `0x` hex, leading-`0` octal or decimal. Returns undefined unless the whole
 * (non-empty) string was consumed.
 */
export function strtolWhole(s: string): number | undefined {
  if (s.length === 0) return undefined;
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(s);
  if (!m) return undefined;
  const body = m[2]!;
  let v: bigint;
  if (/^0[xX]/.test(body)) v = BigInt(body);
  else if (body.length > 1 && body.startsWith("0")) v = BigInt(`0o${body.slice(1)}`);
  else v = BigInt(body);
  if (m[1] === "-") v = -v;
  const max = (1n << 63n) - 1n;
  if (v > max) v = max;
  if (v < -max - 1n) v = -max - 1n;
  return Number(BigInt.asUintN(32, v));
}
