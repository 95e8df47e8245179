/**
 * xenconsoled: dom0's console daemon (tools/console/daemon, Xen 4.17), serving console 0 of
 * every guest. It has its own xenstore connection, as the C daemon has its own `xs_handle`:
 *
 * - it watches `@introduceDomain` and `@releaseDomain` and enumerates domains on each
 *   (`enum_domains`): a new domain gets a console (`create_domain`: a watch on
 *   `/local/domain/<id>/console`, whose events re-run `console_create_ring`); a dying or vanished
 *   one is shut down and cleaned up;
 * - the host also tells it synchronously when it learns of a death (`domainDied`), so the
 *   daemon's grant mapping and port never outlive the domain, whatever order xenstore events
 *   arrive in.
 *
 * See xen-console.ts for what each console does, and terminal.ts / pty.ts for its terminal.
 * Extra consoles (`device/console/<n>`, n ≥ 1) are served through the xenbus driver framework
 * when the host gives the daemon an asynchronous xenstore connection (`deps.transport`): see
 * extra-consoles.ts (in 4.17 QEMU's xenpv console backend serves them; pvkit's daemon does).
 *
 * ```ts
 * await using host = await createHost({ xenconsoled: { logDir: "/tmp/logs", pty: true } });
 * const d = await host.createDomain({ name: "g", main });
 * host.xenconsoled!.console(d.domid)!.ttyPath; // "/dev/pts/3", also in console/tty
 * ```
 */
import type { Guest, Hypervisor } from "@pvkit/hypervisor-sim";
import { type EventChannels, XenbusBus, type XenbusTransport, driverEnv } from "@pvkit/guest-sdk";
import type { Connection } from "../xenstored/connection.js";
import { XsSession } from "../host/xs-session.js";
import type { OverflowPolicy } from "./console-buffer.js";
import { openPty } from "./pty.js";
import type { TerminalFactory } from "./terminal.js";
import { type ConsoleDeps, XenConsole } from "./xen-console.js";
import { ExtraConsoles, hidePrimaryConsole } from "./extra-consoles.js";

/** Options of xenconsoled (`createHost({ xenconsoled })`). */
export interface XenconsoledOptions {
  /**
   * Give each console a real pseudo-terminal whose path goes to `console/tty` (default true), or
   * a terminal factory of your own (tests). false: no terminal (log and stdout only).
   */
  readonly pty?: boolean | TerminalFactory;
  /** Write each guest's output to `<logDir>/guest-<name>.log` (`--log=guest --log-dir`). */
  readonly logDir?: string;
  /** Also copy every guest's output to this stream (true: `process.stdout`). Default none. */
  readonly stdout?: boolean | NodeJS.WritableStream;
  /** `--overflow-data`: "discard" (default) or "keep". */
  readonly overflow?: OverflowPolicy;
}

/** What the daemon needs from the host. */
export interface XenconsoledDeps {
  readonly hv: Hypervisor;
  readonly guest0: Guest;
  readonly events0: EventChannels;
  /** A fresh dom0 xenstore connection for the daemon. */
  readonly connection: Connection;
  /**
   * Another dom0 connection, asynchronous, for the extra consoles' backend bus. Absent: only
   * console 0 is served. Closed with the daemon.
   */
  readonly transport?: XenbusTransport & { readonly conn: Connection };
}

export class Xenconsoled {
  readonly #hv: Hypervisor;
  readonly #xs: XsSession;
  readonly #consoles = new Map<number, { console: XenConsole; unwatch: () => void }>();
  readonly #unwatch: (() => void)[] = [];
  readonly #deps: XenconsoledDeps;
  readonly #terminal: TerminalFactory | undefined;
  readonly #stdout: NodeJS.WritableStream | undefined;
  readonly #opts: XenconsoledOptions;
  readonly #errors: string[] = [];
  readonly #extra: ExtraConsoles | undefined;
  readonly #bus: XenbusBus | undefined;
  #closed = false;

  constructor(deps: XenconsoledDeps, opts: XenconsoledOptions = {}) {
    this.#deps = deps;
    this.#opts = opts;
    this.#hv = deps.hv;
    this.#xs = new XsSession(deps.connection);
    const pty = opts.pty ?? true;
    this.#terminal = pty === true ? openPty : pty === false ? undefined : pty;
    this.#stdout =
      opts.stdout === true ? process.stdout : opts.stdout === false ? undefined : opts.stdout;
    this.#unwatch.push(this.#xs.watch("@introduceDomain", () => this.enumDomains()));
    this.#unwatch.push(this.#xs.watch("@releaseDomain", () => this.enumDomains()));
    if (deps.transport !== undefined) {
      this.#bus = new XenbusBus(
        driverEnv({
          guest: deps.guest0,
          events: deps.events0,
          xs: hidePrimaryConsole(deps.transport),
        }),
      );
      this.#extra = new ExtraConsoles(this.#bus, this.#consoleDeps(), this.#errors);
    }
  }

  /**
   * Extra console `devid` (≥ 1) of `domid`, while connected. Its `ttyPath` is also in the
   * frontend's `device/console/<devid>/tty`.
   */
  extraConsole(domid: number, devid: number): XenConsole | undefined {
    return this.#extra?.console(domid, devid);
  }

  /**
   * The extra consoles' backend bus (a dom0 XenbusBus), when served: await
   * `extraConsoles.registration.connected(devid, domid)` under `host.until`.
   */
  get extraConsoles(): ExtraConsoles | undefined {
    return this.#extra;
  }

  /** The dom0 bus the extra consoles' backend driver runs on (its `errors` say what failed). */
  get bus(): XenbusBus | undefined {
    return this.#bus;
  }

  /** The console of `domid`, while served. */
  console(domid: number): XenConsole | undefined {
    return this.#consoles.get(domid)?.console;
  }

  /** Every served console: each domain's console 0, then the extra consoles. */
  get consoles(): readonly XenConsole[] {
    return [
      ...[...this.#consoles.values()].map((c) => c.console),
      ...(this.#extra?.consoles ?? []),
    ];
  }

  /** What went wrong attaching consoles (io.c logs these with `dolog`), oldest first. */
  get errors(): readonly string[] {
    return this.#errors;
  }

  /** dom0 ports the daemon holds (one per bound console, extra consoles included). */
  get ports(): number[] {
    return this.consoles.map((c) => c.localPort).filter((p): p is number => p !== undefined);
  }

  /** `enum_domains`: consoles for new domains, shutdown for dying or vanished ones. */
  enumDomains(): void {
    if (this.#closed) return;
    for (const d of this.#hv.domains) {
      if (d.domid === 0) continue;
      if (d.isDying) this.domainDied(d.domid);
      else if (!this.#consoles.has(d.domid)) this.#create(d.domid);
    }
    for (const domid of [...this.#consoles.keys()])
      if (this.#hv.domainById(domid) === undefined) this.domainDied(domid);
  }

  /** The domain is dying or gone: shut its console down and forget it. Idempotent. */
  domainDied(domid: number): void {
    this.#extra?.domainDied(domid);
    const c = this.#consoles.get(domid);
    if (c === undefined) return;
    this.#consoles.delete(domid);
    c.unwatch();
    c.console.shutdown();
  }

  /** Stops serving: every console is shut down, the watches removed. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const domid of [...this.#consoles.keys()]) this.domainDied(domid);
    this.#extra?.releaseAll();
    for (const u of this.#unwatch.splice(0)) u();
    this.#deps.connection.close();
    // The bus sees its connection fail and forgets its devices without xenstore traffic.
    this.#deps.transport?.conn.close();
  }

  #consoleDeps(): ConsoleDeps {
    return {
      hv: this.#hv,
      guest0: this.#deps.guest0,
      events0: this.#deps.events0,
      xs: this.#xs,
      terminal: this.#terminal,
      logDir: this.#opts.logDir,
      stdout: this.#stdout,
      overflow: this.#opts.overflow ?? "discard",
    };
  }

  /** `create_domain` + `watch_domain`: the watch's first event runs `console_create_ring`. */
  #create(domid: number): void {
    const console = new XenConsole(domid, this.#consoleDeps());
    const entry = { console, unwatch: () => {} };
    this.#consoles.set(domid, entry);
    entry.unwatch = this.#xs.watch(console.xspath, () => {
      if (this.#consoles.get(domid) !== entry) return;
      const err = console.createRing();
      if (err !== undefined) this.#errors.push(err);
    });
  }
}
