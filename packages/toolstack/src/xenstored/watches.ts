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
import { parentOf } from "./path.js";
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
  // Only the watches on `name` and its ancestors, in the order of cxenstored's walk over all
  // connections and watches; each connection's permission is decided once, at its first watch.
  const hits = xs.watchIndex.match(name, exact);
  if (hits.length === 0) return;
  const view = special ? undefined : new EventView(xs, name, node);
  let last: Connection | undefined;
  let permitted = false;
  for (const { conn, watch } of hits) {
    if (conn.closed) continue;
    if (conn !== last) {
      last = conn;
      permitted = view ? view.permitted(conn, oldPerms) : specialPermitted(xs, conn, name);
    }
    if (permitted) conn.queueEvent(watchEventPath(watch, name), watch.token, cause);
  }
}

/** `check_perms_special`: read access to the special node's permission list. */
export function specialPermitted(xs: XenstoredCore, conn: Connection, name: string): boolean {
  const perms = xs.domains.special.get(name);
  if (!perms) return false;
  return (permForConn(xs.subject(conn), perms) & XS_PERM.XS_PERM_READ) !== 0;
}

/**
 * `watch_permitted` for one event: old perms, else the node, else its parent must grant read.
 * The node (when not given) and its parent are read from the committed store once, at the first
 * watcher that needs them; who is asking does not change what a read outside a transaction sees.
 */
class EventView {
  readonly #xs: XenstoredCore;
  readonly #name: string;
  #node: NodeRecord | undefined | null;
  /** The parent's permissions (only they are looked at), once read. */
  #parent: readonly XsPerm[] | undefined | null = null;

  constructor(xs: XenstoredCore, name: string, node: NodeRecord | undefined) {
    this.#xs = xs;
    this.#name = name;
    this.#node = node ?? null;
  }

  permitted(conn: Connection, oldPerms: readonly XsPerm[] | undefined): boolean {
    const xs = this.#xs;
    const who = xs.subject(conn);
    const R = XS_PERM.XS_PERM_READ;
    if (oldPerms && permForConn(who, oldPerms) & R) return true;
    if (this.#node === null) this.#node = xs.readNode({ conn, txn: undefined }, this.#name);
    const n = this.#node;
    if (!n) return false;
    if (permForConn(who, n.perms) & R) return true;
    if (this.#parent === null)
      this.#parent = xs.readNodePerms({ conn, txn: undefined }, parentOf(n.name));
    const parent = this.#parent;
    if (!parent) return false;
    return (permForConn(who, parent) & R) !== 0;
  }
}

/** Fires a special event (`@introduceDomain`, `@releaseDomain`): exact watches only. */
export function fireSpecial(xs: XenstoredCore, name: "@introduceDomain" | "@releaseDomain"): void {
  fireWatches(xs, SELF, name, undefined, true);
}
