/**
 * TRANSACTION_START and TRANSACTION_END (4.17 `xenstored_transaction.c`). Commit checks, in
 * order: the transaction failed half-way (ENOMEM), the node quota of the domains whose counts it
 * changes (ENOSPC), then every node first accessed by a read still has the generation it had
 * then (EAGAIN; a deletion counts). Only then are the private copies written out and the queued
 * watch events fired, in order of first access, and the commit pays the write rate limit if
 * another transaction is open. Ended either way, the transaction's copies stop being charged.
 */
import type { XenstoredCore } from "./core.js";
import { fail } from "./errors.js";
import { oneArg } from "./payload.js";
import { OK, type Handler, type Request } from "./request.js";
import { Transaction } from "./transaction.js";
import { NO_GENERATION } from "./tree.js";
import { fireWatches } from "./watches.js";

/** TRANSACTION_START -> `<id>\0`. EBUSY when sent inside a transaction, ENOSPC over quota. */
export const doTransactionStart: Handler = (xs, req) => {
  if (req.txn) fail("EBUSY");
  if (xs.unprivileged(req.conn) && req.conn.transactions.size > xs.quotas.transactionsPerDomain)
    fail("ENOSPC");
  const t = new Transaction(req.conn.allocTransactionId(), xs.store.nextGeneration());
  xs.listTransaction(req.conn, t);
  req.reply(`${t.id}\0`);
};

/** TRANSACTION_END `T\0` (commit) or `F\0` (abort) -> OK. The id is gone afterwards either way. */
export const doTransactionEnd: Handler = (xs, req) => {
  const arg = oneArg(req.msg.payload);
  if (arg !== "T" && arg !== "F") fail("EINVAL");
  const t = req.txn;
  if (!t) fail("ENOENT");
  xs.unlistTransaction(req.conn, t);
  try {
    if (arg === "T") commit(xs, req, t);
  } finally {
    xs.releaseTransaction(req.conn, t);
  }
  req.reply(OK);
};

function commit(xs: XenstoredCore, req: Request, t: Transaction): void {
  if (t.fail) fail("ENOMEM");
  const checkQuota = t.nodeCreated && xs.unprivileged(req.conn);
  for (const [domid, delta] of t.changedDomains) {
    const d = xs.domains.findOrAllocExisting(domid);
    if (!d) fail("ENOMEM");
    let cnt = d.nbentry + delta;
    if (cnt < 0) cnt = 0;
    const counted = domid !== 0 && domid !== xs.privDomid ? cnt : 0;
    if (checkQuota && counted >= xs.quotas.nodesPerDomain) fail("ENOSPC");
  }
  if (xs.hooks.commitFault?.(req.conn.id) === true) fail("EAGAIN");
  for (const [name, a] of t.accessed) {
    if (!a.checkGen) continue;
    const cur = xs.store.get(name)?.generation ?? NO_GENERATION;
    if (cur !== a.generation) fail("EAGAIN");
  }
  // Write out each modified node and fire its queued events, in order of first access. The
  // owners are charged without a quota check (`finalize_transaction`).
  const fireCtx = { conn: req.conn, txn: undefined };
  for (const [name, a] of t.accessed) {
    if (!a.modified) continue;
    if (a.local) {
      // The store keeps its own copy (NodeStore.put): this view only re-stamps the generation.
      xs.putCommitted({ ...a.local, generation: xs.store.nextGeneration() }, true);
    } else if (a.generation !== NO_GENERATION) {
      xs.deleteCommitted(name);
    }
    if (a.fireWatch) fireWatches(xs, fireCtx, name, undefined, a.watchExact, a.origPerms);
  }
  xs.debitCommit(req.conn);
  for (const [domid, delta] of t.changedDomains) {
    const d = xs.domains.find(domid);
    if (d) d.nbentry = Math.max(0, d.nbentry + delta);
  }
}
