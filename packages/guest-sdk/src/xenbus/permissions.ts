/**
 * XenStore permission strings (`docs/misc/xenstore.txt`; cxenstored `xenstored_core.c`): a
 * letter — `n` none, `r` read, `w` write, `b` both — followed by a decimal domid. Entry 0 names
 * the owner, and its letter is the access of every domain not listed; entries 1..n are
 * per-domain grants, the first match winning.
 */

/** Access granted by one permission entry. */
export type XenstoreAccess = "none" | "read" | "write" | "both";

/** One entry of a node's permission list. */
export interface XenstorePermission {
  readonly domid: number;
  readonly access: XenstoreAccess;
}

const LETTER: Record<XenstoreAccess, string> = { none: "n", read: "r", write: "w", both: "b" };
const ACCESS: Record<string, XenstoreAccess> = { n: "none", r: "read", w: "write", b: "both" };

/**
 * Parses one permission string as xenstored sends it ("r5").
 * @throws RangeError for an unknown letter or a domid that is not a decimal u16.
 */
export function parsePermission(s: string): XenstorePermission {
  const access = ACCESS[s.charAt(0)];
  const rest = s.slice(1);
  if (access === undefined || !/^[0-9]+$/.test(rest) || Number(rest) > 0xffff) {
    throw new RangeError(`bad xenstore permission ${JSON.stringify(s)}`);
  }
  return { domid: Number(rest), access };
}

/**
 * Formats one entry ("b0"). A string is passed through after checking it parses.
 * @throws RangeError for a domid that is not a u16 or a malformed string.
 */
export function formatPermission(p: XenstorePermission | string): string {
  if (typeof p === "string") {
    parsePermission(p);
    return p;
  }
  if (!Number.isInteger(p.domid) || p.domid < 0 || p.domid > 0xffff)
    throw new RangeError(`bad domid ${p.domid}`);
  const letter = LETTER[p.access];
  if (letter === undefined) throw new RangeError(`bad access ${String(p.access)}`);
  return `${letter}${p.domid}`;
}
