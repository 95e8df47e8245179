/**
 * The node requests of cxenstored 4.17: READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART,
 * GET_PERMS and SET_PERMS, with their checks in cxenstored's order.
 */
import { fail } from "./errors.js";
import { createNode, rmNode } from "./node-lifecycle.js";
import { atou, countStrings, getStrings, oneArg } from "./payload.js";
import { canonicalize, parentOf } from "./path.js";
import { formatPerm, parsePermStrings, permForConn, XS_PERM } from "./perms.js";
import { OK, type Handler, type Request } from "./request.js";
import type { XenstoredCore } from "./core.js";
import { encodedChildren } from "./tree.js";
import { fireWatches } from "./watches.js";
import { XENSTORE_PAYLOAD_MAX, xsBytes, xsString } from "@pvkit/hypervisor-sim/abi";

const { XS_PERM_READ: R, XS_PERM_WRITE: W, XS_PERM_OWNER: O, XS_PERM_IGNORE } = XS_PERM;

function canon(req: Request, path: string | undefined): string | undefined {
  return path === undefined ? undefined : canonicalize(path, req.conn.implicitPath);
}

/** READ `path\0` -> the value bytes, no terminator. */
export const doRead: Handler = (xs, req) => {
  const node = xs.peekNode(req, canon(req, oneArg(req.msg.payload)), R);
  req.reply(node.value);
};

/** WRITE `path\0value` -> OK. Creates missing parents; fires watches before the reply. */
export const doWrite: Handler = (xs, req) => {
  const p = req.msg.payload;
  const nul = p.indexOf(0);
  if (nul < 0) fail("EINVAL");
  const name = canonicalize(xsString(p, 0, nul), req.conn.implicitPath);
  const value = p.slice(nul + 1);
  const found = xs.lookupNode(req, name, W);
  let node;
  if (typeof found !== "string") {
    node = found;
    node.value = value;
    xs.writeNode(req, node);
  } else {
    if (found !== "ENOENT") fail(found);
    node = createNode(xs, req, name, value);
  }
  fireWatches(xs, req, name, node, false);
  req.reply(OK);
};

/** MKDIR `path\0` -> OK, also when the node exists (its value is kept, no watch fires). */
export const doMkdir: Handler = (xs, req) => {
  const name = canon(req, oneArg(req.msg.payload));
  const found = xs.lookupNode(req, name, W);
  if (typeof found === "string") {
    if (found !== "ENOENT") fail(found);
    const node = createNode(xs, req, name!, new Uint8Array(0));
    fireWatches(xs, req, name!, node, false);
  }
  req.reply(OK);
};

/** RM `path\0` -> OK. A missing node is fine if its parent exists; `/` gives EINVAL. */
export const doRm: Handler = (xs, req) => {
  const name = canon(req, oneArg(req.msg.payload));
  const found = xs.lookupNode(req, name, W);
  if (typeof found === "string") {
    if (found !== "ENOENT") fail(found);
    if (xs.readNodePerms(req, parentOf(name!))) {
      req.reply(OK);
      return;
    }
    fail("ENOENT");
  }
  if (name === "/") fail("EINVAL");
  rmNode(xs, req, name!);
  req.reply(OK);
};

/** DIRECTORY `path\0` -> `child\0child\0...` in creation order (E2BIG above 4096 bytes). */
export const doDirectory: Handler = (xs, req) => {
  const node = xs.peekNode(req, canon(req, oneArg(req.msg.payload)), R);
  req.reply(encodedChildren(node));
};

/**
 * DIRECTORY_PART `path\0offset\0` -> `gen\0` then as many whole child names from byte `offset`
 * of the child list as fit in 4096 bytes; an extra NUL marks the end of the list.
 */
export const doDirectoryPart: Handler = (xs, req) => {
  const p = req.msg.payload;
  if (countStrings(p) !== 2) fail("EINVAL");
  const [path, offStr] = getStrings(p) as [string, string];
  const node = xs.peekNode(req, canon(req, path), R);
  const off = atou(offStr);
  const gen = xsBytes(`${node.generation}\0`);
  const list = encodedChildren(node);
  if (off >= list.length) {
    const out = new Uint8Array(gen.length + 1);
    out.set(gen);
    req.reply(out);
    return;
  }
  const maxlen = XENSTORE_PAYLOAD_MAX - gen.length - 1;
  let len = 0;
  for (;;) {
    const start = off + len;
    const strlen = list.indexOf(0, start) - start;
    if (!(len + strlen < maxlen)) break;
    len += strlen + 1;
    if (off + len === list.length) break;
  }
  const end = off + len === list.length;
  const out = new Uint8Array(gen.length + len + (end ? 1 : 0));
  out.set(gen);
  out.set(list.subarray(off, off + len), gen.length);
  req.reply(out);
};

/** GET_PERMS `path\0` -> each permission string followed by NUL. */
export const doGetPerms: Handler = (xs, req) => {
  const node = xs.peekNode(req, canon(req, oneArg(req.msg.payload)), R);
  req.reply(xsBytes(node.perms.map((e) => `${formatPerm(e)}\0`).join("")));
};

/**
 * SET_PERMS `path\0perm\0perm\0...` -> OK. Order of checks: fewer than one perm EINVAL, too
 * many (unprivileged) ENOSPC, malformed EINVAL, owner domain missing ENOENT, then the special
 * nodes, then write+owner access (EACCES/ENOENT), then an owner change by an unprivileged
 * caller EPERM.
 */
export const doSetPerms: Handler = (xs, req) => {
  const p = req.msg.payload;
  const n = countStrings(p);
  if (n < 2) fail("EINVAL");
  const num = n - 1;
  if (xs.unprivileged(req.conn) && num > xs.quotas.permsPerNode) fail("ENOSPC");
  const strings = getStrings(p);
  const perms = parsePermStrings(strings.slice(1, 1 + num));
  if (!perms) fail("EINVAL");
  xs.domains.allocPermRefs(perms);
  if (perms[0]!.perms & XS_PERM_IGNORE) fail("ENOENT");
  const first = strings[0]!;

  if (first.startsWith("@")) {
    setPermsSpecial(xs, req, first, perms);
    req.reply(OK);
    return;
  }

  const name = canonicalize(first, req.conn.implicitPath);
  const node = xs.getNode(req, name, W | O);
  if (xs.unprivileged(req.conn) && perms[0]!.id !== node.perms[0]!.id) fail("EPERM");
  const oldPerms = node.perms;
  xs.entryDec(req, node);
  node.perms = perms;
  if (!xs.entryInc(req, node)) {
    node.perms = oldPerms;
    xs.entryInc(req, node);
    fail("ENOMEM");
  }
  try {
    xs.writeNode(req, node);
  } catch (e) {
    xs.entryDec(req, node);
    node.perms = oldPerms;
    xs.entryInc(req, node);
    throw e;
  }
  fireWatches(xs, req, name, node, false, oldPerms);
  req.reply(OK);
};

/** `set_perms_special`: only `@introduceDomain` / `@releaseDomain`, with write+owner on them. */
function setPermsSpecial(
  xs: XenstoredCore,
  req: Request,
  name: string,
  perms: ReturnType<typeof parsePermStrings> & {},
): void {
  const cur = xs.domains.special.get(name);
  if (!cur) fail("EINVAL");
  if ((permForConn(xs.subject(req.conn), cur) & (W | O)) !== (W | O)) fail("EACCES");
  xs.domains.special.set(name, perms);
}
