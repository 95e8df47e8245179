/**
 * The state of xenstored and its node-access primitives, after cxenstored 4.17
 * (`read_node`, `write_node`, `access_node`, `get_node`, `errno_from_parents`, the node
 * accounting of `xenstored_domain.c`). Every read and write goes through a context naming the
 * calling connection (null for xenstored itself) and its transaction, if any. Every stored node
 * and transaction copy is charged to a domain's memory quota (`memory.ts`), and writes pay the
 * write rate limit (`write-limit.ts`).
 */
import type { Connection, ConnectionCloseReason, ConnectionOwner } from "./connection.js";
import { DomainTable, type DomainRecord, type XenstoredDomainHooks } from "./domains.js";
import { fail } from "./errors.js";
import {
  DEFAULT_WATCH_EVENT_TIMEOUT_MS,
  resolveQuotas,
  type XenstoredOptions,
  type XenstoredQuotas,
  type XenstoredScheduler,
} from "./options.js";
import { MemoryAccounting, nodeMemory, txnNodeMemory, watchMemory } from "./memory.js";
import { isValidNodename, parentOf } from "./path.js";
import { clonePerms, permForConn, XS_PERM, type PermSubject, type XsPerm } from "./perms.js";
import type { Transaction } from "./transaction.js";
import { cloneNode, NO_GENERATION, NodeStore, recordSize, type NodeRecord } from "./tree.js";
import { WatchIndex } from "./watch-index.js";
import { WriteRateLimiter } from "./write-limit.js";
import type { XsdErrorName, XsMessage } from "@pvkit/hypervisor-sim/abi";

/** Who is acting: the connection (null for xenstored itself) and its current transaction. */
export interface Ctx {
  readonly conn: Connection | null;
  readonly txn: Transaction | undefined;
}

/** The context of xenstored's own actions (domain teardown): privileged, no transaction. */
export const SELF: Ctx = { conn: null, txn: undefined };

type AccessKind = "read" | "write" | "delete";

/** The subject of xenstored's own actions. */
const SELF_SUBJECT: PermSubject = Object.freeze({ id: 0, privileged: true, target: undefined });

/** Handles one request; installed by the dispatcher. */
export type RequestProcessor = (conn: Connection, msg: XsMessage) => void;

export class XenstoredCore implements ConnectionOwner {
  readonly store = new NodeStore();
  readonly domains: DomainTable;
  readonly quotas: XenstoredQuotas;
  readonly privDomid: number;
  readonly hooks: XenstoredDomainHooks;
  readonly scheduler: XenstoredScheduler | undefined;
  /** `timeout_watch_event_msec` (0: never). */
  readonly watchEventTimeoutMs: number;
  /**
   * Live connections in creation order (watch events are generated in this order). Add and
   * remove them with {@link addConnection} and {@link removeConnection}, which keep the watch
   * index in step.
   */
  readonly connections = new Set<Connection>();
  /** Every connection's watches by watched path (`fire_watches` looks only there). */
  readonly watchIndex = new WatchIndex();
  #openTransactions = 0;
  readonly memory: MemoryAccounting;
  /** The write rate limit; none without a scheduler (no clock to earn credit back). */
  readonly wrl: WriteRateLimiter | undefined;
  processor: RequestProcessor = () => {
    throw new Error("no request processor installed");
  };

  constructor(opts: XenstoredOptions = {}) {
    this.quotas = resolveQuotas(opts.quotas);
    this.privDomid = opts.privDomid ?? 0;
    this.hooks = opts.hooks ?? {};
    this.scheduler = opts.scheduler;
    const timeout = opts.watchEventTimeoutMs ?? DEFAULT_WATCH_EVENT_TIMEOUT_MS;
    if (!Number.isInteger(timeout) || timeout < 0)
      throw new RangeError(`watchEventTimeoutMs must be a non-negative integer, got ${timeout}`);
    this.watchEventTimeoutMs = timeout;
    this.domains = new DomainTable(
      this.hooks.domainExists?.bind(this.hooks),
      () => this.store.generation,
    );
    this.memory = new MemoryAccounting(this.domains, this.quotas, this.privDomid);
    const sched = this.scheduler;
    this.wrl = sched ? new WriteRateLimiter(() => sched.now) : undefined;
    // dom0 is introduced at start-up (`dom0_init`) and owns the initial tree (`setup_structure`).
    const dom0 = this.domains.alloc(0);
    dom0.introduced = true;
    this.wrl?.domainNew(dom0);
    for (const [name, child] of [
      ["/", "tool"],
      ["/tool", "xenstored"],
      ["/tool/xenstored", undefined],
    ] as const) {
      const n: NodeRecord = {
        name,
        value: new Uint8Array(0),
        children: child ? [child] : [],
        perms: [{ id: 0, perms: XS_PERM.XS_PERM_NONE }],
        generation: this.store.nextGeneration(),
      };
      this.putCommitted(n, true);
    }
    dom0.nbentry += 3;
  }

  process(conn: Connection, msg: XsMessage): void {
    this.processor(conn, msg);
  }

  connectionClosed(conn: Connection, _reason: ConnectionCloseReason): void {
    this.dropWatches(conn);
    this.dropTransactions(conn);
    if (conn.kind !== "domain") this.removeConnection(conn);
  }

  /** Puts `conn` at the end of the connection list (no change if it is listed already). */
  addConnection(conn: Connection): void {
    if (this.connections.has(conn)) return;
    this.connections.add(conn);
    this.watchIndex.connectionAdded(conn);
  }

  /** Takes `conn` off the connection list. */
  removeConnection(conn: Connection): void {
    this.connections.delete(conn);
    this.watchIndex.connectionRemoved(conn);
  }

  /** `conn_delete_all_watches`. */
  dropWatches(conn: Connection): void {
    if (conn.domain) conn.domain.nbwatch = Math.max(0, conn.domain.nbwatch - conn.watches.length);
    for (const w of conn.watches) {
      this.memory.add(conn.id, -watchMemory(w.path, w.token), true);
      this.watchIndex.remove(conn, w);
    }
    conn.watches.length = 0;
  }

  /** `conn_delete_all_transactions`. */
  dropTransactions(conn: Connection): void {
    for (const t of [...conn.transactions.values()]) this.releaseTransaction(conn, t);
  }

  /**
   * `destroy_transaction`: forgets `t` (if still listed) and releases the memory of its private
   * node copies.
   */
  releaseTransaction(conn: Connection, t: Transaction): void {
    this.unlistTransaction(conn, t);
    let mem = 0;
    for (const a of t.accessed.values()) if (a.local) mem += txnNodeMemory(a.local, t.generation);
    t.accessed.clear();
    this.memory.add(conn.id, -mem, true);
  }

  /** Lists a new transaction on its connection (TRANSACTION_START). */
  listTransaction(conn: Connection, t: Transaction): void {
    conn.transactions.set(t.id, t);
    this.#openTransactions++;
  }

  /** Takes `t` off its connection's list, if it is still there. */
  unlistTransaction(conn: Connection, t: Transaction): void {
    if (conn.transactions.get(t.id) === t && conn.transactions.delete(t.id))
      this.#openTransactions--;
  }

  /**
   * Transactions open on all connections (`wrl_ntransactions`): counted as they are listed and
   * unlisted ({@link listTransaction}, {@link unlistTransaction}), not by walking every
   * connection on every write.
   */
  openTransactions(): number {
    return this.#openTransactions;
  }

  /** `domain_memory_add` for a connection's queued messages. */
  memoryAdd(domid: number, mem: number, noQuotaCheck: boolean): boolean {
    return this.memory.add(domid, mem, noQuotaCheck);
  }

  /**
   * The quota part of `domain_can_read`: whether an unprivileged domain's ring must not be read
   * now, because its write credit is negative (a wake-up is armed for when it is earned back),
   * `outstandingLimit` of its requests are outstanding, or it has reached its memory quota.
   */
  readBlocked(conn: Connection, outstandingLimit = this.quotas.outstandingPerDomain): boolean {
    const d = conn.domain;
    if (!this.unprivileged(conn) || !d) return false;
    const wait = d.wrl ? this.wrl?.blockedFor(d) : undefined;
    if (wait !== undefined) {
      this.#wakeAfter(d, wait);
      return true;
    }
    if (conn.outstanding >= outstandingLimit) return true;
    return this.memory.blocked(d);
  }

  /** Emits `readable` on the domain's connection `ms` from now (the poll timeout of the C loop). */
  #wakeAfter(d: DomainRecord, ms: number): void {
    if (d.wrlTimer || !this.scheduler) return;
    d.wrlTimer = this.scheduler.at(this.scheduler.now + ms * 1_000_000, () => {
      d.wrlTimer = undefined;
      const c = d.connection;
      if (c && !c.closed) c.emit("readable");
    });
  }

  /** `wrl_apply_debit_trans_commit`, called once `t` is off its connection's list. */
  debitCommit(conn: Connection): void {
    // cxenstored still counts the committing transaction here ("> 1"); ours is off the list.
    if (this.openTransactions() > 0) this.wrl?.debit(conn.domain, this.unprivileged(conn));
  }

  /** Stops a domain's write-rate-limit bookkeeping (`wrl_domain_destroy`) and its wake-up. */
  forgetDomainLimits(d: DomainRecord): void {
    d.wrlTimer?.cancel();
    d.wrlTimer = undefined;
    this.wrl?.domainDestroy(d);
  }

  /** `domain_is_unprivileged`. */
  unprivileged(conn: Connection | null): boolean {
    return conn !== null && !conn.privileged;
  }

  subject(conn: Connection | null): PermSubject {
    return conn === null ? SELF_SUBJECT : conn.permSubject(!this.unprivileged(conn));
  }

  /** `perm_for_conn` for a context's connection. */
  permFor(conn: Connection | null, node: NodeRecord): number {
    return this.permForPerms(conn, node.perms);
  }

  /** `perm_for_conn` for a context's connection, on a node's permission list. */
  permForPerms(conn: Connection | null, perms: readonly XsPerm[]): number {
    // Privileged callers get everything on any node with an owner (no subject to build).
    if (!this.unprivileged(conn) && perms.length > 0)
      return XS_PERM.XS_PERM_READ | XS_PERM.XS_PERM_WRITE | XS_PERM.XS_PERM_OWNER;
    return permForConn(this.subject(conn), perms);
  }

  // ---- node access -------------------------------------------------------------------------

  /**
   * `read_node`: the node as the context sees it (a private copy), or undefined if absent.
   * Inside a transaction the first access records the node and its generation.
   * @throws XenstoreError ENOSPC when the transaction's node quota is exhausted.
   */
  readNode(ctx: Ctx, name: string): NodeRecord | undefined {
    const a = ctx.txn?.accessed.get(name);
    if (a) {
      if (!a.local) return undefined;
      const n = cloneNode(a.local);
      this.domains.adjustNodePerms(n);
      return n;
    }
    const stored = this.store.get(name);
    if (!stored) {
      this.accessNode(
        ctx,
        { name, value: new Uint8Array(0), children: [], perms: [], generation: NO_GENERATION },
        "read",
      );
      return undefined;
    }
    const n = cloneNode(stored);
    this.domains.adjustNodePerms(n);
    this.accessNode(ctx, n, "read");
    return n;
  }

  /**
   * {@link readNode} for callers that look only at whether the node exists and at its
   * permissions (`errno_from_parents`, RM's parent check, `watch_permitted`'s parent): the same
   * transaction bookkeeping (the first access records the node, its generation and the
   * transaction's private copy), and the permissions as `read_node` adjusts them, but no private
   * copy of the node for the caller (a parent such as `/local/domain` has a child per domain).
   * The list returned must not be modified.
   * @returns the permissions, or undefined if the node is absent.
   * @throws XenstoreError ENOSPC when the transaction's node quota is exhausted.
   */
  readNodePerms(ctx: Ctx, name: string): readonly XsPerm[] | undefined {
    const txn = ctx.txn;
    const a = txn?.accessed.get(name);
    if (a) return a.local ? this.#adjustedPerms(a.local) : undefined;
    const stored = this.store.get(name);
    if (!stored || txn) {
      if (!stored) {
        this.readNode(ctx, name);
        return undefined;
      }
      // The transaction's first access: accessNode keeps its own copy of this view (children
      // shared here, copied there), as readNode would give it.
      const n: NodeRecord = {
        name,
        value: stored.value,
        children: stored.children,
        perms: clonePerms(stored.perms),
        generation: stored.generation,
      };
      this.domains.adjustNodePerms(n);
      this.accessNode(ctx, n, "read");
      return n.perms;
    }
    return this.#adjustedPerms(stored);
  }

  /** A node's permissions as `domain_adjust_node_perms` leaves them (the node's own if unchanged). */
  #adjustedPerms(node: NodeRecord): readonly XsPerm[] {
    if (!this.domains.permsNeedAdjust(node)) return node.perms;
    const view: NodeRecord = {
      name: node.name,
      value: node.value,
      children: [],
      perms: clonePerms(node.perms),
      generation: node.generation,
    };
    this.domains.adjustNodePerms(view);
    return view.perms;
  }

  /** `access_node`: generation bump for modifications, transaction bookkeeping. */
  accessNode(ctx: Ctx, node: NodeRecord, kind: AccessKind): void {
    if (kind !== "read") {
      node.generation = this.store.nextGeneration();
      // `wrl_apply_debit_direct`: only while some transaction is open anywhere.
      if (ctx.conn && !ctx.txn && this.wrl && this.openTransactions() > 0)
        this.wrl.debit(ctx.conn.domain, this.unprivileged(ctx.conn));
    }
    const txn = ctx.txn;
    if (!txn) return;
    let a = txn.accessed.get(node.name);
    if (!a) {
      if (txn.accessed.size >= this.quotas.transactionNodes && this.unprivileged(ctx.conn)) {
        txn.fail = true;
        fail("ENOSPC", "transaction node quota");
      }
      const exists = node.generation !== NO_GENERATION;
      a = {
        local: null,
        generation: 0,
        checkGen: false,
        modified: false,
        origPerms: exists && node.perms.length > 0 ? clonePerms(node.perms) : undefined,
        fireWatch: false,
        watchExact: false,
      };
      if (kind === "read") {
        a.generation = node.generation;
        a.checkGen = true;
        if (exists) {
          // The transaction's own copy, charged to its connection without a quota check.
          a.local = cloneNode(node);
          this.memory.add(ctx.conn?.id ?? 0, txnNodeMemory(node, txn.generation), true);
        }
      }
      txn.accessed.set(node.name, a);
    }
    if (kind !== "read") a.modified = true;
  }

  /**
   * `write_node`: records the modification, then stores the node (privately in a transaction).
   * The node is handed over: it is the caller's private copy (from {@link readNode} or built
   * for the write) and the caller does not modify it afterwards, even if the write fails.
   * @throws XenstoreError ENOSPC for an unprivileged caller when the record reaches the node-size
   *   quota, EIO when the memory charge would reach the hard memory quota of the domain charged
   *   (the node's owner; the caller in a transaction). Either way a transaction can no longer
   *   commit.
   */
  writeNode(ctx: Ctx, node: NodeRecord, noQuotaCheck = false): void {
    this.accessNode(ctx, node, "write");
    this.domains.adjustNodePerms(node);
    if (!noQuotaCheck && this.unprivileged(ctx.conn) && recordSize(node) >= this.quotas.nodeSize) {
      if (ctx.txn) ctx.txn.fail = true;
      fail("ENOSPC", "node size quota");
    }
    try {
      this.storeRaw(ctx, node, noQuotaCheck);
    } catch (e) {
      if (ctx.txn) ctx.txn.fail = true;
      throw e;
    }
  }

  /**
   * Puts the node where the context keeps it, without access bookkeeping, moving its memory
   * charge (`do_tdb_write`: the old record is released, the new one charged). The node is
   * handed over as in {@link writeNode}: a transaction keeps it as its copy, the store keeps its
   * child list.
   * @throws XenstoreError EIO if the charge is refused (nothing changes then).
   */
  storeRaw(ctx: Ctx, node: NodeRecord, noQuotaCheck = true): void {
    const txn = ctx.txn;
    const a = txn?.accessed.get(node.name);
    if (txn && a) {
      const who = ctx.conn?.id ?? 0;
      const old = a.local ? txnNodeMemory(a.local, txn.generation) : 0;
      this.memory.add(who, -old, true);
      if (!this.memory.add(who, txnNodeMemory(node, txn.generation), noQuotaCheck)) {
        this.memory.add(who, old, true);
        fail("EIO", "memory quota");
      }
      a.local = node;
    } else {
      this.putCommitted(node, noQuotaCheck);
    }
  }

  /**
   * Stores `node` in the committed store, charging its owner and releasing the old record's
   * charge. Its child list is handed over to the store ({@link NodeStore.put} `owned`): the
   * caller does not modify it afterwards.
   * @throws XenstoreError EIO if the owner's charge is refused (nothing changes then).
   */
  putCommitted(node: NodeRecord, noQuotaCheck: boolean): void {
    const old = this.store.get(node.name);
    const oldOwner = old?.perms[0]?.id ?? 0;
    const oldMem = old ? nodeMemory(old) : 0;
    if (old) this.memory.add(oldOwner, -oldMem, true);
    if (!this.memory.add(node.perms[0]?.id ?? 0, nodeMemory(node), noQuotaCheck)) {
      if (old) this.memory.add(oldOwner, oldMem, true);
      fail("EIO", "memory quota");
    }
    this.store.put(node, true);
  }

  /** Removes `name` from the committed store, releasing its owner's charge (`do_tdb_delete`). */
  deleteCommitted(name: string): void {
    const old = this.store.get(name);
    if (!old) return;
    this.memory.add(old.perms[0]?.id ?? 0, -nodeMemory(old), true);
    this.store.delete(name);
  }

  /** Deletes the node (privately in a transaction). */
  deleteNode(ctx: Ctx, node: NodeRecord): void {
    this.accessNode(ctx, node, "delete");
    this.unstoreRaw(ctx, node.name);
  }

  unstoreRaw(ctx: Ctx, name: string): void {
    const txn = ctx.txn;
    const a = txn?.accessed.get(name);
    if (txn && a) {
      if (a.local)
        this.memory.add(ctx.conn?.id ?? 0, -txnNodeMemory(a.local, txn.generation), true);
      a.local = null;
    } else {
      this.deleteCommitted(name);
    }
  }

  /**
   * `get_node`: validates the path, reads the node and checks that the caller has every bit of
   * `perm`. A missing or forbidden node gives ENOENT or EACCES as `errno_from_parents` decides:
   * the real error only if the nearest existing ancestor grants some of `perm`.
   * @throws XenstoreError EINVAL, EACCES, ENOENT (or ENOSPC from the transaction quota).
   */
  getNode(ctx: Ctx, name: string | undefined, perm: number): NodeRecord {
    const got = this.lookupNode(ctx, name, perm);
    if (typeof got === "string") fail(got);
    return got;
  }

  /**
   * {@link getNode} for handlers that only read the node (READ, DIRECTORY, DIRECTORY_PART,
   * GET_PERMS): outside a transaction, a stored node that needs no permission adjustment and
   * that the caller may access is returned as it is stored, without the private copy `read_node`
   * makes; anything else goes through {@link getNode}. The result must not be modified.
   * @throws XenstoreError as {@link getNode}.
   */
  peekNode(ctx: Ctx, name: string | undefined, perm: number): NodeRecord {
    if (ctx.txn === undefined && name !== undefined) {
      const stored = this.store.get(name);
      if (
        stored !== undefined &&
        !this.domains.permsNeedAdjust(stored) &&
        isValidNodename(name, this.quotas.pathMax) &&
        (this.permFor(ctx.conn, stored) & perm) === perm
      ) {
        return stored;
      }
    }
    return this.getNode(ctx, name, perm);
  }

  /**
   * {@link getNode} for callers that handle a missing node themselves (WRITE, MKDIR and RM
   * create or ignore it): the error is returned as its name instead of thrown, as `get_node`
   * returns NULL with errno set.
   * @throws XenstoreError ENOSPC from the transaction quota (that one is not returned).
   */
  lookupNode(
    ctx: Ctx,
    name: string | undefined,
    perm: number,
  ): NodeRecord | "EINVAL" | "EACCES" | "ENOENT" {
    if (name === undefined || !isValidNodename(name, this.quotas.pathMax)) return "EINVAL";
    const node = this.readNode(ctx, name);
    let code: "EACCES" | "ENOENT";
    if (node) {
      if ((this.permFor(ctx.conn, node) & perm) === perm) return node;
      code = "EACCES";
    } else {
      code = "ENOENT";
    }
    return this.errnoFromParents(ctx, name, code, perm);
  }

  /** `errno_from_parents` with `ask_parents`: hide a node's existence from those who may not know. */
  errnoFromParents<C extends XsdErrorName>(
    ctx: Ctx,
    name: string,
    code: C,
    perm: number,
  ): C | "EACCES" {
    let parentPerm = 0;
    let path = name;
    do {
      path = parentOf(path);
      const p = this.readNodePerms(ctx, path);
      if (p) {
        parentPerm = this.permForPerms(ctx.conn, p);
        break;
      }
    } while (path !== "/");
    return parentPerm & perm ? code : "EACCES";
  }

  // ---- node accounting (`domain_entry_*`) --------------------------------------------------

  /** Owned-node count of the caller's domain, 0 for privileged callers (`domain_entry`). */
  domainEntry(conn: Connection | null): number {
    return this.unprivileged(conn) ? (conn!.domain?.nbentry ?? 0) : 0;
  }

  /** Counts a node for its owner; false if the owner has no record (ENOMEM in cxenstored). */
  entryInc(ctx: Ctx, node: NodeRecord): boolean {
    const owner = node.perms[0]?.id;
    if (owner === undefined) return true;
    if (ctx.txn) {
      ctx.txn.entryDelta(owner, 1);
      return true;
    }
    const d = this.ownerRecord(ctx.conn, owner, true);
    if (!d) return false;
    d.nbentry++;
    return true;
  }

  entryDec(ctx: Ctx, node: NodeRecord): void {
    const owner = node.perms[0]?.id;
    if (owner === undefined) return;
    if (ctx.txn) {
      ctx.txn.entryDelta(owner, -1);
      return;
    }
    const d = this.ownerRecord(ctx.conn, owner, false);
    if (d) d.nbentry--;
  }

  ownerRecord(conn: Connection | null, owner: number, alloc: boolean): DomainRecord | undefined {
    if (conn && owner === conn.id && conn.domain) return conn.domain;
    return alloc ? this.domains.findOrAllocExisting(owner) : this.domains.find(owner);
  }
}
