/**
 * A simulated Xen host: the hypervisor, dom0 (privileged) running xenstored in-process, and a
 * toolstack that builds and destroys domains as libxl 4.17 does.
 *
 * ```ts
 * await using host = await createHost();
 * const d = await host.createDomain({ name: "guest", devices: [{ kind: "vbd" }], main: async (ctx) => { ... } });
 * await d.done;
 * const report = await host.destroyDomain(d.domid);
 * ```
 *
 * xenstored learns about domain deaths as cxenstored does: dom0 binds VIRQ_DOM_EXC and, on
 * each event, rescans the domains it knows (`check_domains`): a shut-down or crashed domain
 * fires `@releaseDomain` once; a dying or vanished one is released (its connection closed,
 * the nodes it owns removed, `@releaseDomain` fired).
 */
import { EventEmitter } from "eventemitter3";
import { Observable } from "rxjs";
import { ClosedError, Hypervisor, describeBlocked, type Guest } from "@pvkit/hypervisor-sim";
import { VIRQ } from "@pvkit/hypervisor-sim/abi";
import { type EventChannel, EventChannels, type EventHandlerError } from "@pvkit/guest-sdk";
import { XsLocalClient } from "../xenstored/local-client.js";
import { LocalXenbusTransport } from "../xenbus/local-transport.js";
import { ringTransportFactory } from "../xenstored/ring-factory.js";
import type { XenstoreRingTransport } from "../xenstored/ring-transport.js";
import type { XenstoredSocketServer } from "../xenstored/socket-server.js";
import { Xenstored } from "../xenstored/xenstored.js";
import type { Connection } from "../xenstored/connection.js";
import { HostError } from "./errors.js";
import {
  type CreateDomainOptions,
  type HostOptions,
  type ResolvedHostOptions,
  resolveHostOptions,
} from "./host-options.js";
import { buildNewDomain } from "./create-domain.js";
import type {
  DestroyOptions,
  DestroyReport,
  DomainCrash,
  DomainHandle,
  DomainRecord,
} from "./domain-handle.js";
import { LIBXL_DESTROY_TIMEOUT_NS, removeDevices, removeDevicesNow } from "./device-remove.js";
import { domPath, libxlPath, vmPath, writeDom0Tree } from "./libxl-tree.js";
import { XsSession } from "./xs-session.js";
import { Xenconsoled } from "../xenconsoled/xenconsoled.js";

export interface HostEvents {
  /** A guest's `main` failed and its domain was crashed. */
  "domain-crashed": [crash: DomainCrash];
}

/** Dom0 as code running in it sees itself: its guest handle and event channels. */
export interface Dom0 {
  readonly guest: Guest;
  readonly events: EventChannels;
}

/** What the testing entry inspects. @internal */
export interface HostInventory {
  /** Dom0 ports the host itself holds: VIRQ_DOM_EXC and the rings of live domains. */
  readonly ownDom0Ports: readonly number[];
  /** Every domain the host built, with its state. */
  readonly domains: readonly DomainRecord[];
  /** Xenstore connections handed out by `openXenstore` (and the socket's clients). */
  readonly clients: readonly Connection[];
  /** The host's own sessions' connections (must hold no watch when idle). */
  readonly ownConnections: readonly Connection[];
  /** Ring transports created by INTRODUCE, by domid. */
  readonly transports: ReadonlyMap<number, XenstoreRingTransport>;
  /** What dom0's event handlers and `events$` subscribers threw, in order. */
  readonly dom0HandlerErrors: readonly EventHandlerError[];
}

let makeHost: (options: ResolvedHostOptions) => Host;

export class Host extends EventEmitter<HostEvents> implements AsyncDisposable {
  readonly hv: Hypervisor;
  readonly xenstored: Xenstored;
  readonly dom0: Dom0;
  readonly options: ResolvedHostOptions;
  /** The console daemon, when enabled (`createHost({ xenconsoled })`). */
  readonly xenconsoled: Xenconsoled | undefined;
  readonly #xs: XsSession;
  readonly #records = new Map<number, DomainRecord>();
  readonly #clients = new Set<Connection>();
  readonly #transports = new Map<number, XenstoreRingTransport>();
  readonly #dom0HandlerErrors: EventHandlerError[] = [];
  #virq: EventChannel | undefined;
  #socket: XenstoredSocketServer | undefined;
  #closing: Promise<void> | undefined;
  #uuidSeq = 0;

  static {
    makeHost = (options) => new Host(options);
  }

  /** Use {@link createHost} (private: the published .d.ts has no `new Host()`). */
  private constructor(options: ResolvedHostOptions) {
    super();
    this.options = options;
    this.hv = new Hypervisor({
      mode: options.mode,
      wallclockSec: options.wallclockSec,
      ...(options.chaos ? { chaos: options.chaos } : {}),
    });
    this.hv.createDomain({ name: "Domain-0", nrPages: options.dom0Pages });
    const guest0 = this.hv.guest(0);
    const events0 = EventChannels.of(guest0);
    // Dom0's own event handling throwing (a backend's onEvent, an events$ subscriber): kept for
    // the testing entry's teardown checks, which fail the test with it.
    events0.errors$.subscribe((e) => this.#dom0HandlerErrors.push(e));
    this.dom0 = { guest: guest0, events: events0 };
    this.xenstored = new Xenstored({
      ...(options.quotas ? { quotas: options.quotas } : {}),
      // Watch events for guests time out in the host's virtual time (cxenstored's 20 s).
      scheduler: this.hv.scheduler,
      hooks: {
        domainExists: (domid) => this.hv.domainById(domid) !== undefined,
        connectDomain: ringTransportFactory({
          guest0,
          events0,
          onTransport: (t) => this.#transports.set(t.domid, t),
        }),
        ...(options.xenstoreCommitFault ? { commitFault: options.xenstoreCommitFault } : {}),
      },
    });
    this.#xs = new XsSession(this.xenstored.connect("local"));
    writeDom0Tree(this.#xs);
    this.#virq = events0.bindVirq(VIRQ.VIRQ_DOM_EXC, 0, { onEvent: () => this.#checkDomains() });
    const xc = options.xenconsoled;
    this.xenconsoled = xc
      ? new Xenconsoled(
          {
            hv: this.hv,
            guest0,
            events0,
            connection: this.xenstored.connect("local"),
            transport: new LocalXenbusTransport(new XsLocalClient(this.xenstored.connect("local"))),
          },
          xc,
        )
      : undefined;
  }

  /** @internal Starts the socket server. */
  async listen(path: string): Promise<void> {
    this.#socket = await this.xenstored.listen(path);
  }

  /** The xenstored socket path, when the host serves one. */
  get socketPath(): string | undefined {
    return this.#socket?.path;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The domains built and not yet destroyed. */
  get domains(): DomainHandle[] {
    return [...this.#records.values()].filter((r) => !r.released && r.destroying === undefined);
  }

  /** The handle of a domain the host built, if it is still around. */
  domain(domid: number): DomainHandle | undefined {
    const r = this.#records.get(domid);
    return r && !r.released ? r : undefined;
  }

  /**
   * Crashes of guests' `main`, as they happen (cold: subscribing starts listening). Subscribing
   * counts as observing every crash reported to the subscription.
   */
  readonly domainErrors$: Observable<DomainCrash> = new Observable<DomainCrash>((sub) => {
    const on = (c: DomainCrash): void => {
      const r = this.#records.get(c.domid);
      if (r) r.crashObserved = true;
      sub.next(c);
    };
    this.on("domain-crashed", on);
    return () => {
      this.off("domain-crashed", on);
    };
  });

  /**
   * A new privileged xenstore client for dom0 code (a dom0 tool or an in-dom0 backend). Its
   * watches and transactions are checked by the testing entry's leak checks.
   * @throws ClosedError after close().
   */
  openXenstore(): XsLocalClient {
    this.#assertOpen("openXenstore");
    const conn = this.xenstored.connect("local");
    this.#clients.add(conn);
    return new XsLocalClient(conn);
  }

  /**
   * Builds a domain as libxl does (see create-domain.ts), unpauses it and starts its `main`.
   * @throws HostError ERR_BAD_OPTION (options), ERR_NAME_TAKEN (name taken), ERR_BUILD (a build
   *   step failed; the half-built domain is destroyed and its nodes removed); ClosedError after
   *   close().
   */
  async createDomain(opts: CreateDomainOptions): Promise<DomainHandle> {
    this.#assertOpen("createDomain");
    const record = buildNewDomain({
      hv: this.hv,
      xs: this.#xs,
      dom0: this.dom0,
      options: opts,
      nameTaken: (name) => this.#nameTaken(name),
      nextUuid: () => this.#nextUuid(),
      wallclockSec: this.options.wallclockSec,
      destroy: (domid, o) => this.destroyDomain(domid, o),
      register: (r) => this.#records.set(r.domid, r),
      crashed: (r, error) => this.#crashed(r, error),
    });
    return record;
  }

  /** Whether `name` is Domain-0's or that of a domain in {@link domains} (libxl refuses it). */
  #nameTaken(name: string): boolean {
    if (name === "Domain-0") return true;
    // One pass over the records, no array or set built (a boot storm creates a thousand).
    for (const r of this.#records.values())
      if (r.name === name && !r.released && r.destroying === undefined) return true;
    return false;
  }

  #crashed(r: DomainRecord, error: unknown): void {
    const d = this.hv.domainById(r.domid);
    if (d === undefined || d.isDying || r.destroying !== undefined) return;
    r.crashed = true;
    r.crashError = error;
    this.hv.crashDomain(r.domid, error);
    r.abort.abort(error);
    this.emit("domain-crashed", { domid: r.domid, name: r.name, error });
  }

  #nextUuid(): string {
    const n = ++this.#uuidSeq;
    return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
  }

  /**
   * Destroys a domain as `xl destroy` does (libxl_domain.c `libxl__destroy_domid`,
   * libxl_device.c `libxl__initiate_device_generic_remove`): each device's backend is told to
   * close (`online` = 0, `state` = Closing unless Closed) and waited for, in virtual time, up to
   * `timeoutNs` (default 10 s); then the frontend, backend and /libxl directories, `/vm/<uuid>`,
   * `/local/domain/<id>` and `/libxl/<id>` are removed and the domain is destroyed in the
   * hypervisor. Resolves once xenstored has released it (its VIRQ_DOM_EXC rescan ran:
   * `@releaseDomain` fired, nodes it owned removed). In manual mode, drive the scheduler while
   * awaiting. A second call while one runs returns the same promise.
   * @throws HostError ERR_NO_DOMAIN for a domain the host did not build or already destroyed.
   */
  destroyDomain(domid: number, opts: DestroyOptions = {}): Promise<DestroyReport> {
    const r = this.#records.get(domid);
    if (r === undefined || r.released)
      return Promise.reject(new HostError("ERR_NO_DOMAIN", `no domain ${domid} to destroy`));
    r.destroying ??= this.#destroy(r, opts.timeoutNs ?? LIBXL_DESTROY_TIMEOUT_NS);
    return r.destroying;
  }

  async #destroy(r: DomainRecord, timeoutNs: number): Promise<DestroyReport> {
    if (!(timeoutNs >= 0))
      throw new HostError("ERR_BAD_OPTION", `timeoutNs must be >= 0, got ${timeoutNs}`);
    const devices = await removeDevices(this.hv, this.#xs, r.domid, timeoutNs);
    this.#removeDomainNodes(r);
    this.#kill(r);
    await r.whenReleased();
    return {
      domid: r.domid,
      name: r.name,
      devices,
      timedOut: devices.filter((d) => d.outcome === "timeout"),
    };
  }

  /** `devices_destroy_cb`: /vm/<uuid>, /local/domain/<id>, /libxl/<id>. */
  #removeDomainNodes(r: DomainRecord): void {
    const vm = this.#xs.read(`${domPath(r.domid)}/vm`) ?? vmPath(r.uuid);
    this.#xs.rm(vm);
    this.#xs.rm(domPath(r.domid));
    this.#xs.rm(libxlPath(r.domid));
  }

  /** `xc_domain_destroy`, and the guest's event layer closed (its `main` is told via the signal). */
  #kill(r: DomainRecord): void {
    const d = this.hv.domainById(r.domid);
    const events = r.context?.events;
    if (d !== undefined && !d.isDying) this.hv.destroyDomain(r.domid);
    if (!r.abort.signal.aborted)
      r.abort.abort(new HostError("ERR_NO_DOMAIN", `d${r.domid} was destroyed`));
    try {
      events?.close();
    } catch {
      // The guest is gone; its channels went with it.
    }
  }

  /** cxenstored's `check_domains`, run on every VIRQ_DOM_EXC (and at close). */
  #checkDomains(): void {
    for (const r of this.#records.values()) {
      if (r.released) continue;
      const d = this.hv.domainById(r.domid);
      if (d === undefined || d.isDying) {
        this.xenstored.domainDied(r.domid);
        this.xenconsoled?.domainDied(r.domid);
        this.#transports.delete(r.domid);
        r.markReleased();
      } else if (d.shutdownCode !== undefined) {
        this.xenstored.domainShutdown(r.domid);
      }
    }
  }

  /**
   * Resolves or rejects as `p` does, while the host runs (in manual mode this drives the
   * scheduler under its quiescence rule; in auto mode the pump does). Use it to await what guests
   * are to do, so that a test that would wait forever fails at once, saying why.
   * @param what names `p` in the error, e.g. "d1 reaching Connected".
   * @throws StallError when the host goes quiescent with no timer or delivery left while `p` is
   *   still pending; its report says, per domain, what it is blocked on and which xenstore
   *   watches it holds.
   */
  until<T>(p: Promise<T>, what?: string): Promise<T> {
    return this.hv.scheduler.until(p, {
      ...(what !== undefined ? { what } : {}),
      describe: () => this.describeBlocked(),
    });
  }

  /**
   * What every domain is blocked on (see {@link describeBlocked}), with the xenstore watches
   * each domain holds: one line each.
   */
  describeBlocked(): string[] {
    const lines = describeBlocked(this.hv);
    for (const r of this.#records.values()) {
      if (r.released) continue;
      const conn = this.xenstored.domainConnection(r.domid);
      if (conn === undefined || conn.closed) continue;
      const w = conn.watches.map((x) => x.path);
      lines.push(
        `d${r.domid} (${r.name}) xenstore: ${w.length === 0 ? "no watches" : `watching ${w.slice(0, 8).join(", ")}${w.length > 8 ? `, … (${w.length})` : ""}`}${conn.transactions.size > 0 ? `; ${conn.transactions.size} transaction(s) open` : ""}`,
      );
    }
    lines.push(...this.#deviceErrors());
    return lines;
  }

  /**
   * Each device's last error, from the nodes `xenbus_dev_error` writes (`error/<nodename>/error`
   * in the domain's home; a driver hook that threw writes one as the device goes fatal): why a
   * device never connected, for the stall report. One line each.
   */
  #deviceErrors(): string[] {
    const out: string[] = [];
    const doms = [...this.#records.values()]
      .filter((r) => !r.released)
      .map((r) => ({ domid: r.domid, name: r.name }));
    if (!doms.some((d) => d.domid === 0)) doms.unshift({ domid: 0, name: "Domain-0" });
    for (const d of doms) {
      const root = `/local/domain/${d.domid}/error`;
      const walk = (path: string): void => {
        const n = this.xenstored.inspect(path);
        if (n === undefined) return;
        if (path !== root && path.endsWith("/error") && n.children.length === 0) {
          out.push(
            `d${d.domid} (${d.name}) ${path.slice(root.length + 1, -"/error".length)}: last error "${new TextDecoder().decode(n.value)}"`,
          );
        }
        for (const c of n.children) walk(`${path}/${c}`);
      };
      walk(root);
    }
    return out;
  }

  /** @internal What the testing entry's leak checks look at. */
  inventory(): HostInventory {
    const own: number[] = [];
    if (this.#virq && !this.#virq.closed) own.push(this.#virq.port);
    for (const t of this.#transports.values()) if (t.localPort !== undefined) own.push(t.localPort);
    if (this.xenconsoled) own.push(...this.xenconsoled.ports);
    const clients = [...this.#clients, ...(this.#socket ? this.#socket.clients : [])].filter(
      (c) => !c.closed,
    );
    return {
      ownDom0Ports: own,
      domains: [...this.#records.values()],
      clients,
      ownConnections: [this.#xs.conn],
      transports: new Map(this.#transports),
      dom0HandlerErrors: [...this.#dom0HandlerErrors],
    };
  }

  /**
   * Tears everything down at once: every domain's nodes are removed and it is destroyed
   * (no backend handshake), xenstored releases them, dom0's VIRQ binding and event channels
   * are closed, the socket (if any) stops, xenstored closes. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const r of this.#records.values()) {
      if (r.released) continue;
      removeDevicesNow(this.#xs, r.domid);
      this.#removeDomainNodes(r);
      this.#kill(r);
    }
    this.#checkDomains();
    this.#virq?.close();
    this.#virq = undefined;
    await this.#socket?.close();
    this.xenconsoled?.close();
    this.xenstored.close();
    this.dom0.events.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(op: string): void {
    if (this.#closing !== undefined) throw new ClosedError("the host", op);
  }
}

/**
 * Boots a host: the hypervisor, dom0 with xenstored (and its Unix socket when `socketPath` is
 * given), VIRQ_DOM_EXC bound.
 * @throws HostError ERR_BAD_OPTION for bad options; Error if the socket cannot be bound.
 */
export async function createHost(options: HostOptions = {}): Promise<Host> {
  const host = makeHost(resolveHostOptions(options));
  if (options.socketPath !== undefined) {
    try {
      await host.listen(options.socketPath);
    } catch (err) {
      await host.close();
      throw err;
    }
  }
  return host;
}
