/**
 * A transaction as cxenstored 4.17 keeps it (`xenstored_transaction.c`): every node the
 * transaction touched, with a private copy, the generation seen at first read, and whether it
 * was modified. Commit fails with EAGAIN when any node first accessed by a read has a different
 * generation in the global store (a deletion counts); watch events are queued here and fire only
 * on a successful commit.
 */
import type { XsPerm } from "./perms.js";
import type { NodeRecord } from "./tree.js";

/** One node touched by a transaction (`struct accessed_node`). */
export interface AccessedNode {
  /** The transaction's view: a private copy, or null if the node is absent in it. */
  local: NodeRecord | null;
  /** Generation at first access (NO_GENERATION if absent); checked at commit if `checkGen`. */
  generation: number;
  /** True when the first access was a read. */
  checkGen: boolean;
  modified: boolean;
  /** Permissions at first access, for the watch filter at commit (old perms count too). */
  origPerms: XsPerm[] | undefined;
  fireWatch: boolean;
  watchExact: boolean;
}

export class Transaction {
  /** Connection-local id (decimal on the wire). */
  readonly id: number;
  /** Global generation when started. */
  readonly generation: number;
  /** Touched nodes, in order of first access (watch events fire in this order). */
  readonly accessed = new Map<string, AccessedNode>();
  /** Change in owned-node count per domid, applied at commit. */
  readonly changedDomains = new Map<number, number>();
  /** A node was created (the node quota is re-checked at commit). */
  nodeCreated = false;
  /** Something failed half-way; commit gives ENOMEM. */
  fail = false;

  constructor(id: number, generation: number) {
    this.id = id;
    this.generation = generation;
  }

  /** `transaction_entry_inc` / `_dec`. */
  entryDelta(domid: number, delta: number): void {
    this.changedDomains.set(domid, (this.changedDomains.get(domid) ?? 0) + delta);
  }

  /** `queue_watches`: a non-exact event replaces an exact one, not the other way round. */
  queueWatch(name: string, exact: boolean): void {
    const a = this.accessed.get(name);
    if (!a) {
      this.fail = true;
      return;
    }
    if (!a.fireWatch) {
      a.fireWatch = true;
      a.watchExact = exact;
    } else if (!exact) {
      a.watchExact = false;
    }
  }
}
