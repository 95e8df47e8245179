/**
 * xenstored with Xen 4.17 cxenstored semantics, transport-independent. Clients are
 * {@link Connection}s: in-process ones from {@link Xenstored.connect}, Unix-socket ones from
 * `listenXenstored`, and domain ring connections created on INTRODUCE through the
 * `connectDomain` hook. The host reports domain deaths with {@link Xenstored.domainDied}
 * (what cxenstored learns from VIRQ_DOM_EXC).
 *
 * ```ts
 * const xs = new Xenstored();
 * const dom0 = new XsLocalClient(xs.connect());
 * dom0.write("/local/domain/0/name", "Domain-0");
 * ```
 */
import { EventEmitter } from "eventemitter3";
import { type Connection, createConnection } from "./connection.js";
import { XenstoredCore } from "./core.js";
import { processMessage, requestName } from "./dispatch.js";
import { destroyDomain, introduceDomain, shutdownDomain } from "./domain-lifecycle.js";
import type { XenstoredOptions, XenstoredQuotas } from "./options.js";
import { clonePerms, type XsPerm } from "./perms.js";
import { listenXenstored, type XenstoredSocketServer } from "./socket-server.js";
import type { XsMessage } from "@pvkit/hypervisor-sim/abi";

export interface XenstoredEvents {
  /** A request arrived (before it is processed). */
  request: [conn: Connection, msg: XsMessage, name: string];
  /** A handler failed with something other than a XenstoreError (a bug); the client got EIO. */
  "internal-error": [err: unknown, conn: Connection, msg: XsMessage];
}

/** A read-only view of a node, for hosts and tests. */
export interface NodeView {
  readonly value: Uint8Array;
  readonly children: readonly string[];
  readonly perms: readonly XsPerm[];
  readonly generation: number;
}

/**
 * One xenstored (cxenstored 4.17 semantics, see the file header): the store, its connections,
 * domains and quotas. `connect()` makes an in-process client connection; `listenXenstored`
 * serves it on a Unix socket; INTRODUCE connects a domain's ring through `hooks.connectDomain`;
 * `domainDied()` is the host's VIRQ_DOM_EXC. Emits `"request"` for each request and
 * `"internal-error"` when a handler fails with a bug.
 */
export class Xenstored extends EventEmitter<XenstoredEvents> {
  #core: XenstoredCore;

  constructor(options: XenstoredOptions = {}) {
    super();
    this.#core = new XenstoredCore(options);
    this.#core.processor = (conn, msg) => {
      if (this.listenerCount("request") > 0) this.emit("request", conn, msg, requestName(msg.type));
      processMessage(this.#core, conn, msg, (err, c, m) => this.emit("internal-error", err, c, m));
    };
  }

  /** The quota settings in force (CONTROL `quota set` changes them). */
  get quotas(): Readonly<XenstoredQuotas> {
    return this.#core.quotas;
  }

  /**
   * A new in-process client connection, privileged like a dom0 tool on the socket (`kind`
   * `"socket"` is for the socket server).
   */
  connect(kind: "local" | "socket" = "local"): Connection {
    const conn = createConnection(this.#core, kind, 0);
    this.#core.addConnection(conn);
    return conn;
  }

  /**
   * Introduces a domain as an INTRODUCE request would: creates its connection through the
   * `connectDomain` hook and fires `@introduceDomain`.
   * @returns the domain's connection.
   * @throws XenstoreError if the hook refuses.
   */
  introduceDomain(domid: number, ring: { mfn: number; evtchn: number }): Connection {
    return introduceDomain(this.#core, domid, ring.mfn, ring.evtchn).connection!;
  }

  /** The connection of an introduced domain, if any. */
  domainConnection(domid: number): Connection | undefined {
    return this.#core.domains.findIntroduced(domid)?.connection;
  }

  /** Whether `domid` is introduced (dom0 is, from start-up). */
  isIntroduced(domid: number): boolean {
    return this.#core.domains.findIntroduced(domid) !== undefined;
  }

  /**
   * The domain has died (the host calls this on VIRQ_DOM_EXC): its connection closes, every node
   * it owns goes with its subtree, and `@releaseDomain` fires if it was introduced.
   * @returns false if xenstored knew nothing of the domain.
   */
  domainDied(domid: number): boolean {
    const d = this.#core.domains.find(domid);
    if (!d || domid === 0) return false;
    destroyDomain(this.#core, d, "domain-died");
    return true;
  }

  /** The domain has shut down or crashed but still exists: `@releaseDomain` fires once. */
  domainShutdown(domid: number): boolean {
    return shutdownDomain(this.#core, domid);
  }

  /**
   * Bytes charged to `domid` for the memory quota (what CONTROL `quota <domid>` shows as
   * `memory`): its nodes, its transactions' node copies, its watches and its queued messages.
   */
  memoryUsage(domid: number): number {
    return this.#core.domains.find(domid)?.memory ?? 0;
  }

  /** Nodes owned by `domid` as xenstored counts them for the quota. */
  nodeCount(domid: number): number {
    return this.#core.domains.find(domid)?.nbentry ?? 0;
  }

  /** A copy of the node at absolute `path` in the committed store, or undefined. */
  inspect(path: string): NodeView | undefined {
    const n = this.#core.store.get(path);
    if (!n) return undefined;
    return {
      value: n.value.slice(),
      children: [...n.children],
      perms: clonePerms(n.perms),
      generation: n.generation,
    };
  }

  /** Every committed path, for diagnostics. */
  paths(): string[] {
    return this.#core.store.paths().sort();
  }

  /**
   * Serves dom0 tools on Unix socket `path` (see {@link listenXenstored}).
   * @throws Error if `path` is a non-socket file or cannot be bound.
   */
  listen(path: string): Promise<XenstoredSocketServer> {
    return listenXenstored(this, path);
  }

  /** Closes every connection (reason `server-closed`). The store stays readable. */
  close(): void {
    for (const d of this.#core.domains.all()) {
      d.wrlTimer?.cancel();
      d.wrlTimer = undefined;
      const conn = d.connection;
      if (conn) {
        conn.close("server-closed");
        d.transport?.close();
        d.transport = undefined;
      }
    }
    for (const conn of [...this.#core.connections]) conn.close("server-closed");
    this.#core.connections.clear();
  }
}
