/**
 * Node permissions (`struct xs_permissions` of `xenstore_lib.h`) and cxenstored 4.17's access
 * rule `perm_for_conn`. Entry 0 names the owner and its letter is the default for every domain
 * not listed; entries 1..n are ACL entries, first match wins.
 */
import { strtolWhole } from "./payload.js";

/** `XS_PERM_*` bits. OWNER and IGNORE are internal to xenstored and never on the wire. */
export const XS_PERM = {
  XS_PERM_NONE: 0x00,
  XS_PERM_READ: 0x01,
  XS_PERM_WRITE: 0x02,
  XS_PERM_ENOENT_OK: 0x04,
  XS_PERM_OWNER: 0x08,
  XS_PERM_IGNORE: 0x10,
} as const;

const { XS_PERM_READ: R, XS_PERM_WRITE: W, XS_PERM_OWNER: O, XS_PERM_IGNORE: IGNORE } = XS_PERM;

/** One permission entry: a domid (u32) and a bit mask of XS_PERM bits. */
export interface XsPerm {
  id: number;
  perms: number;
}

/** Deep copy of a permission list. */
export function clonePerms(p: readonly XsPerm[]): XsPerm[] {
  return p.map((e) => ({ id: e.id, perms: e.perms }));
}

/**
 * `xs_strings_to_perms`: parses `n<domid>`, `r..`, `w..` or `b..` strings. The domid takes C
 * `strtol(.., 0)` syntax (so `0x10` and `010` work).
 * @returns the entries, or undefined if any string is malformed (EINVAL).
 */
export function parsePermStrings(strings: readonly string[]): XsPerm[] | undefined {
  const out: XsPerm[] = [];
  for (const s of strings) {
    let perms: number;
    switch (s.charAt(0)) {
      case "r":
        perms = R;
        break;
      case "w":
        perms = W;
        break;
      case "b":
        perms = R | W;
        break;
      case "n":
        perms = 0;
        break;
      default:
        return undefined;
    }
    const id = strtolWhole(s.slice(1));
    if (id === undefined) return undefined;
    out.push({ id, perms });
  }
  return out;
}

/** `xs_perm_to_string`: the letter (IGNORE masked off) and the domid printed as a C `int`. */
export function formatPerm(p: XsPerm): string {
  const letter = ["n", "r", "w", "b"][p.perms & (R | W)]!;
  return `${letter}${p.id | 0}`;
}

/** The identity an access check needs about the caller. */
export interface PermSubject {
  /** The connection's domid (0 for socket clients). */
  readonly id: number;
  /** Dom0, the privileged domain and socket clients bypass all checks. */
  readonly privileged: boolean;
  /** The domid this caller is device model for (SET_TARGET), if any. */
  readonly target: number | undefined;
}

/**
 * `perm_for_conn`: READ|WRITE|OWNER for privileged callers, the owner and the owner's device
 * model; otherwise the first non-ignored ACL entry naming the caller (or its target), else the
 * owner entry's letter. Returns a mask of XS_PERM bits.
 */
export function permForConn(who: PermSubject, perms: readonly XsPerm[]): number {
  const owner = perms[0];
  if (owner === undefined) return 0;
  if (
    who.privileged ||
    owner.id === who.id ||
    (who.target !== undefined && owner.id === who.target)
  ) {
    return R | W | O;
  }
  for (let i = 1; i < perms.length; i++) {
    const e = perms[i]!;
    if (e.perms & IGNORE) continue;
    if (e.id === who.id || (who.target !== undefined && e.id === who.target))
      return e.perms & (R | W | O);
  }
  return owner.perms & (R | W | O);
}
