/**
 * The watches of every connection, indexed by watched path, so an event on P looks only at the
 * watches registered on P and on P's ancestors instead of every watch of every connection.
 * cxenstored 4.17 (`fire_watches` in `xenstored_watch.c`) walks all connections and all their
 * watches; {@link WatchIndex.match} returns exactly the watches that walk would match
 * (`is_child` for a normal event, equality for an exact one), in the walk's order: connections
 * in the order they joined the connection list, each connection's watches in registration order.
 *
 * The connection's own `watches` array stays the record of what it watches; the index mirrors it
 * and is updated at the same places (WATCH, UNWATCH, `conn_delete_all_watches`).
 */
import type { Connection, Watch } from "./connection.js";

/** One indexed watch: its connection, the watch and its registration number. */
export interface WatchHit {
  readonly conn: Connection;
  readonly watch: Watch;
  /** Registration order over all connections (a connection's watches ascend in array order). */
  readonly seq: number;
}

/** The answer when nothing matches (shared, frozen: callers only read it). */
const NO_HITS: WatchHit[] = Object.freeze([] as WatchHit[]) as WatchHit[];

export class WatchIndex {
  /** Watched path -> the watches on exactly that path. */
  readonly #byPath = new Map<string, WatchHit[]>();
  /** Each listed connection's place in the connection list. */
  readonly #connOrder = new Map<Connection, number>();
  #nextSeq = 0;
  #nextConn = 0;

  /** A connection joined the end of the connection list (a second add keeps its place). */
  connectionAdded(conn: Connection): void {
    if (!this.#connOrder.has(conn)) this.#connOrder.set(conn, this.#nextConn++);
  }

  /** A connection left the connection list: its watches no longer match anything. */
  connectionRemoved(conn: Connection): void {
    this.#connOrder.delete(conn);
  }

  /** `conn` registered `w` (after its earlier watches). */
  add(conn: Connection, w: Watch): void {
    const hit: WatchHit = { conn, watch: w, seq: this.#nextSeq++ };
    const list = this.#byPath.get(w.path);
    if (list) list.push(hit);
    else this.#byPath.set(w.path, [hit]);
  }

  /** `conn` dropped `w` (the same object that was added). */
  remove(conn: Connection, w: Watch): void {
    const list = this.#byPath.get(w.path);
    if (!list) return;
    const i = list.findIndex((h) => h.watch === w && h.conn === conn);
    if (i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.#byPath.delete(w.path);
  }

  /** Number of indexed watches (for tests). */
  get size(): number {
    let n = 0;
    for (const l of this.#byPath.values()) n += l.length;
    return n;
  }

  /**
   * The watches an event on `name` fires, in the order of cxenstored's walk over connections and
   * their watches. `exact`: only watches on `name` itself; otherwise every watch whose path is
   * `name` or an ancestor of it (`is_child(name, watch->node)`). Watches of connections not on
   * the connection list are left out, as the walk never sees them.
   */
  match(name: string, exact: boolean): WatchHit[] {
    // No watch anywhere (a store written by tools alone): no ancestor path to build and look up.
    if (this.#byPath.size === 0) return NO_HITS;
    const out: WatchHit[] = [];
    if (exact) {
      this.#collect(name, out);
    } else {
      // The paths p with is_child(name, p): "/", name itself and every prefix of name that ends
      // right before a "/" (the empty prefix too, though no valid watch has that path).
      if (name !== "/") this.#collect("/", out);
      for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) {
        const p = name.slice(0, i);
        if (p !== "/") this.#collect(p, out);
      }
      this.#collect(name, out);
    }
    if (out.length > 1) {
      const order = this.#connOrder;
      out.sort((a, b) => order.get(a.conn)! - order.get(b.conn)! || a.seq - b.seq);
    }
    return out;
  }

  #collect(path: string, out: WatchHit[]): void {
    const list = this.#byPath.get(path);
    if (!list) return;
    for (const h of list) if (this.#connOrder.has(h.conn)) out.push(h);
  }
}
