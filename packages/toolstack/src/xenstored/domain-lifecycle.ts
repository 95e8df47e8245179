/**
 * Domain lifecycle in xenstored (4.17 `introduce_domain`, `domain_conn_reset`,
 * `destroy_domain`, `domain_tree_remove`, `check_domains`): introducing a domain creates its
 * ring connection through the host hook and fires `@introduceDomain`; destroying it (RELEASE, or
 * the host reporting its death) removes every node it owns with the subtree below, removes it
 * from the special nodes' permissions and fires `@releaseDomain`.
 */
import { type ConnectionCloseReason, createConnection } from "./connection.js";
import { SELF, type XenstoredCore } from "./core.js";
import type { DomainRecord } from "./domains.js";
import { XenstoreError } from "./errors.js";
import { rmNode } from "./node-lifecycle.js";
import { childPath } from "./path.js";
import { fireSpecial } from "./watches.js";
import { isXsdErrorName } from "@pvkit/hypervisor-sim/abi";

/**
 * Introduces `domid` (INTRODUCE): on first introduction creates its connection, asks the host to
 * connect the ring and fires `@introduceDomain` (not for dom0); an already introduced domain only
 * rebinds its event channel. Either way the connection is reset: watches, transactions and
 * queued output are dropped.
 * @throws XenstoreError with the host hook's error name if the ring cannot be connected.
 */
export function introduceDomain(
  xs: XenstoredCore,
  domid: number,
  mfn: number,
  evtchn: number,
): DomainRecord {
  const found = xs.domains.find(domid);
  const d = found ?? xs.domains.alloc(domid);
  if (!d.introduced || !d.connection) {
    const conn = createConnection(xs, "domain", domid);
    conn.domain = d;
    const res = xs.hooks.connectDomain?.({ domid, mfn, evtchn, connection: conn });
    if (typeof res === "string") {
      if (!found) xs.domains.remove(domid);
      throw new XenstoreError(
        isXsdErrorName(res) ? res : "EINVAL",
        `cannot connect domain ${domid}: ${res}`,
      );
    }
    const wasIntroduced = d.introduced;
    d.introduced = true;
    d.shutdown = false;
    d.connection = conn;
    d.transport = res;
    d.evtchn = evtchn;
    xs.addConnection(conn);
    if (!wasIntroduced) xs.wrl?.domainNew(d);
    if (domid !== 0 && !wasIntroduced) fireSpecial(xs, "@introduceDomain");
  } else {
    d.transport?.rebind?.(evtchn);
    d.evtchn = evtchn;
  }
  const conn = d.connection!;
  xs.dropWatches(conn);
  xs.dropTransactions(conn);
  conn.clearOutput();
  d.transport?.reset?.();
  return d;
}

/**
 * `destroy_domain`: closes the domain's connection, removes the nodes it owns (each with its
 * subtree), drops it from the special nodes' permissions and forgets it. An introduced domain
 * then fires `@releaseDomain`.
 */
export function destroyDomain(
  xs: XenstoredCore,
  d: DomainRecord,
  reason: ConnectionCloseReason,
): void {
  const conn = d.connection;
  if (conn) {
    conn.close(reason);
    xs.removeConnection(conn);
    for (const other of xs.connections) if (other.target === conn) other.target = undefined;
  }
  removeOwnedNodes(xs, d);
  xs.domains.dropFromSpecialPerms(d.domid, xs.privDomid);
  xs.domains.remove(d.domid);
  d.connection = undefined;
  const transport = d.transport;
  d.transport = undefined;
  if (!d.introduced) return;
  transport?.close();
  fireSpecial(xs, "@releaseDomain");
  xs.forgetDomainLimits(d);
}

/** `domain_tree_remove`: a pre-order walk from `/`, stopping once the domain owns nothing. */
function removeOwnedNodes(xs: XenstoredCore, d: DomainRecord): void {
  if (d.nbentry <= 0) return;
  const walk = (name: string): boolean => {
    const node = xs.store.get(name);
    if (!node) return true;
    if (name !== "/" && node.perms[0]?.id === d.domid) {
      try {
        rmNode(xs, SELF, name);
      } catch {
        // cxenstored logs and carries on.
      }
      return d.nbentry > 0;
    }
    for (const child of [...node.children]) if (!walk(childPath(name, child))) return false;
    return true;
  };
  walk("/");
}

/** The host saw the domain shut down or crash: mark it and fire `@releaseDomain` once. */
export function shutdownDomain(xs: XenstoredCore, domid: number): boolean {
  const d = xs.domains.findIntroduced(domid);
  if (!d || d.shutdown) return false;
  d.shutdown = true;
  fireSpecial(xs, "@releaseDomain");
  return true;
}
