/**
 * Assertions shared by the ABI layout tests. The expected numbers always come from the caller,
 * copied from the named Xen 4.17 header (x86_64) — never from the table under test.
 */
import { expect } from "vitest";
import type { Layout } from "@pvkit/hypervisor-sim/abi";

/**
 * Asserts that `layout` has exactly the `expected` fields at the expected `[offset, size]`, that
 * `size` is the expected `sizeof`, and that every field lies inside the struct.
 */
export function expectLayout(
  layout: Layout,
  size: number,
  expectedSize: number,
  expected: Record<string, readonly [number, number]>,
): void {
  expect(size).toBe(expectedSize);
  // Compare as plain arrays so a missing, extra or moved field shows up in the diff.
  const actual = Object.fromEntries(Object.entries(layout).map(([k, v]) => [k, [...v]]));
  const want = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, [...v]]));
  expect(actual).toStrictEqual(want);
  for (const [name, [off, width]] of Object.entries(layout)) {
    expect(off + width, `${name} ends inside the struct`).toBeLessThanOrEqual(expectedSize);
  }
}

/**
 * Asserts that the named top-level fields do not overlap (they are members of a struct, not a
 * union), so no byte is claimed twice.
 */
export function expectDisjoint(layout: Layout, names: readonly string[]): void {
  const spans = names.map((n) => {
    const spec = layout[n];
    if (spec === undefined) throw new Error(`no field ${n}`);
    return [n, spec[0], spec[0] + spec[1]] as const;
  });
  spans.sort((a, b) => a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    expect(cur[1], `${cur[0]} starts after ${prev[0]} ends`).toBeGreaterThanOrEqual(prev[2]);
  }
}

/** A little-endian byte array from a list of (hex) byte values, for golden comparisons. */
export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}
