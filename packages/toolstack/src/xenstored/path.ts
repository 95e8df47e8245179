/**
 * XenStore path rules of cxenstored 4.17 (`is_valid_nodename`, `canonicalize`, `get_parent`
 * in `xenstored_core.c`; `is_child` in `xenstored_watch.c`).
 */

const SLASH = 0x2f;
/** 1 for the chars of a path component, `[A-Za-z0-9-_@]`, by char code below 128. */
const NAME_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_@")
  NAME_CHAR[c.charCodeAt(0)] = 1;
/** `sscanf(node, "/local/domain/%5u/%n")`: up to 5 chars of an unsigned number, then a slash. */
const LOCAL_DOMAIN_PREFIX = /^\/local\/domain\/([+-]?\d+)\//;

/** The implicit (home) path of a domain: `/local/domain/<domid>`. */
export function domainPath(domid: number): string {
  return `/local/domain/${domid >>> 0}`;
}

/**
 * `is_valid_nodename`: absolute, no trailing slash except `/` itself, no `//`, only
 * `[A-Za-z0-9-/_@]`, and at most `maxPathLen` bytes (under `/local/domain/<id>/` only the part
 * after that prefix counts).
 */
export function isValidNodename(path: string, maxPathLen: number): boolean {
  const n = path.length;
  if (n === 0 || path.charCodeAt(0) !== SLASH) return false;
  if (n > 1 && path.charCodeAt(n - 1) === SLASH) return false;
  // One pass: every char in [A-Za-z0-9-/_@], no "//".
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === SLASH) {
      if (prev === SLASH) return false;
    } else if (!(c < 128 && NAME_CHAR[c] === 1)) {
      return false;
    }
    prev = c;
  }
  if (n <= maxPathLen) return true;
  let localOff = 0;
  const m = LOCAL_DOMAIN_PREFIX.exec(path);
  if (m) {
    const num = m[1]!;
    // %5u stops after 5 characters; anything longer does not reach the slash, so no match.
    if (num.length <= 5) localOff = m[0].length;
  }
  return n <= localOff + maxPathLen;
}

/** `canonicalize`: a path not starting with `/` or `@` is relative to `implicitPath`. */
export function canonicalize(path: string, implicitPath: string): string {
  if (path.startsWith("/") || path.startsWith("@")) return path;
  return `${implicitPath}/${path}`;
}

/** `get_parent`: everything before the last slash; `/` for a top-level node (and for `/`). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/** The last path component (not meaningful for `/`). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The path of child `name` under `parent`. */
export function childPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/** `is_child`: `child` equals `parent` or lies below it; everything is below `/`. */
export function isChildOrSelf(child: string, parent: string): boolean {
  if (parent === "/") return true;
  if (!child.startsWith(parent)) return false;
  const next = child.charAt(parent.length);
  return next === "/" || next === "";
}
