/**
 * Watch matching and delivery (4.17 `xenstored_watch.c`). An event on path P goes to every watch
 * on P or an ancestor of P (exact events: only watches on P), but only to connections allowed to
 * see it: for a node event the watcher must be able to read the node or its parent, with the
 * node's old permissions counting too (XSA-115); for `@introduceDomain`/`@releaseDomain` it
 * must be able to read the special node's permission list. Inside a transaction events are
 * queued on the transaction and fire at commit.
 */
import type { Connection, Watch } from "./connection.js";
import { SELF, type Ctx, type XenstoredCore } from "./core.js";
import { isChildOrSelf, parentOf } from "./path.js";
import { permForConn, XS_PERM, type XsPerm } from "./perms.js";
import type { NodeRecord } from "./tree.js";

/** The path a watch reports for an event on `name`: relative watches get it relative. */
export function watchEventPath(w: Watch, name: string): string {
  if (w.relative === undefined) return name;
  let p = name.slice(w.relative.length);
  if (p.startsWith("/")) p = p.slice(1);
  return p;
}

/**
 * `fire_watches`. `node` is the node as written (or as it was, for a removal); when absent the
 * node is read from the store. `oldPerms` are the permissions before a SET_PERMS or before a
 * transaction touched the node.
 */
export function fireWatches(
  xs: XenstoredCore,
  ctx: Ctx,
  name: string,
  node: NodeRecord | undefined,
  exact: boolean,
  oldPerms?: readonly XsPerm[],
): void {
  if (ctx.txn) {
    ctx.txn.queueWatch(name, exact);
    return;
  }
  const special = name.startsWith("@");
  // The request being processed keeps counting as outstanding until these events are gone.
  const cause = ctx.conn?.currentRequest;
  for (const conn of xs.connections) {
    if (conn.closed || conn.watches.length === 0) continue;
    if (special) {
      if (!specialPermitted(xs, conn, name)) continue;
    } else if (!watchPermitted(xs, conn, name, node, oldPerms)) {
      continue;
    }
    for (const w of [...conn.watches]) {
      const hit = exact ? name === w.path : isChildOrSelf(name, w.path);
      if (hit) conn.queueEvent(watchEventPath(w, name), w.token, cause);
    }
  }
}

/** `check_perms_special`: read access to the special node's permission list. */
export function specialPermitted(xs: XenstoredCore, conn: Connection, name: string): boolean {
  const perms = xs.domains.special.get(name);
  if (!perms) return false;
  return (permForConn(xs.subject(conn), perms) & XS_PERM.XS_PERM_READ) !== 0;
}

/** `watch_permitted`: old perms, else the node, else its parent must grant read. */
function watchPermitted(
  xs: XenstoredCore,
  conn: Connection,
  name: string,
  node: NodeRecord | undefined,
  oldPerms: readonly XsPerm[] | undefined,
): boolean {
  const who = xs.subject(conn);
  const R = XS_PERM.XS_PERM_READ;
  if (oldPerms && permForConn(who, oldPerms) & R) return true;
  const viewer: Ctx = { conn, txn: undefined };
  const n = node ?? xs.readNode(viewer, name);
  if (!n) return false;
  if (permForConn(who, n.perms) & R) return true;
  const parent = xs.readNode(viewer, parentOf(n.name));
  if (!parent) return false;
  return (permForConn(who, parent.perms) & R) !== 0;
}

/** Fires a special event (`@introduceDomain`, `@releaseDomain`): exact watches only. */
export function fireSpecial(xs: XenstoredCore, name: "@introduceDomain" | "@releaseDomain"): void {
  fireWatches(xs, SELF, name, undefined, true);
}
