/**
 * Extra consoles (`device/console/N`, N ≥ 1) served by the daemon through the xenbus driver
 * framework: a backend driver for type "console" on a dom0 bus, one {@link XenConsole} per
 * console, the same code console 0 runs.
 *
 * **What a Xen 4.17 host does, and where this differs.** 4.17's xenconsoled serves only console 0
 * and the ARM vuart (io.c's `console_type[]` lists "/console" and "/vuart/0"), and writes no
 * backend state for either. Secondary consoles are served by QEMU's xenpv console backend
 * (hw/char/xen_console.c, libxl writing frontend `type` = "ioemu"): `con_initialise` reads the
 * frontend's `ring-ref` and `port` (the keys Linux hvc_xen's `xencons_connect_backend` writes —
 * `port`, not `event-channel`), maps `ring-ref` as a grant, binds `port`, reads `limit`, and
 * `xenstore_store_pv_console_info` writes the terminal's path to `device/console/N/tty`; its
 * xen-backend framework writes the backend `state` (InitWait at set-up, Connected once
 * initialised). pvkit's daemon does that here, so one process serves every console (the domain
 * builder writes `type` = "xenconsoled" for extra consoles). The backend state walk is the
 * framework's: InitWait at probe; Connected once the frontend is Initialised or Connected
 * (QEMU's console ignores the frontend state and connects once the keys are there; hvc_xen
 * writes Initialised with them, so a conforming frontend sees the same); Closing/Closed with
 * the frontend, on `online = 0`, and on `detachDevice`.
 *
 * `backend/console/<domid>/0` (libxl writes it for the primary console) is hidden from the bus:
 * console 0 has no xenbus frontend and is served from `/local/domain/<id>/console` (xenconsoled.ts).
 *
 * A domain's death releases its consoles at once (`domainDied`), as for console 0, so the
 * daemon's mappings never keep a dying domain's pages.
 */
import type {
  BackendDriver,
  DriverRegistration,
  EventChannel,
  XenbusBus,
  XenbusDevice,
  XenbusOps,
  XenbusTransport,
  XsWatchEvent,
} from "@pvkit/guest-sdk";
import { type Observable, filter as rxFilter } from "rxjs";
import type { ConsoleDeps } from "./xen-console.js";
import { XenConsole } from "./xen-console.js";

/** One served extra console and how to release it at once. */
interface Served {
  readonly console: XenConsole;
  readonly release: () => void;
}

/** The extra consoles of every domain; see the module comment. */
export class ExtraConsoles {
  readonly #served = new Map<XenbusDevice<XenConsole>, Served>();
  readonly #reg: DriverRegistration<XenConsole>;
  readonly #errors: string[];

  constructor(bus: XenbusBus, deps: ConsoleDeps, errors: string[]) {
    this.#errors = errors;
    const driver: BackendDriver<XenConsole> = {
      type: "console",
      connect: (dev) => this.#connect(dev, deps),
      disconnect: (dev) => void this.#served.delete(dev),
    };
    this.#reg = bus.registerBackend(driver);
  }

  /** The driver's registration (tests wait on it: `registration.connected(1, domid)`). */
  get registration(): DriverRegistration<XenConsole> {
    return this.#reg;
  }

  /** Served extra console `devid` of `domid`. */
  console(domid: number, devid: number): XenConsole | undefined {
    for (const s of this.#served.values())
      if (s.console.domid === domid && s.console.devid === devid) return s.console;
    return undefined;
  }

  /** Every served extra console. */
  get consoles(): XenConsole[] {
    return [...this.#served.values()].map((s) => s.console);
  }

  /** The domain is dying or gone: release its consoles now (the bus forgets them later). */
  domainDied(domid: number): void {
    for (const [dev, s] of [...this.#served]) {
      if (s.console.domid !== domid) continue;
      this.#served.delete(dev);
      s.release();
    }
  }

  /** Releases every console at once (the daemon is stopping). */
  releaseAll(): void {
    for (const s of [...this.#served.values()]) s.release();
    this.#served.clear();
  }

  /** QEMU's `con_initialise` on the framework's device. */
  async #connect(dev: XenbusDevice<XenConsole>, deps: ConsoleDeps): Promise<void> {
    const ref = await dev.otherInt("ring-ref");
    const remote = await dev.otherInt("port");
    const [m] = dev.env.mapper.map([ref], dev.otherendId);
    const unmap = dev.own(`mapping of d${dev.otherendId} grant ref ${ref} (console ring)`, () =>
      m!.unmap(),
    );
    const console = new XenConsole(dev.otherendId, deps, {
      devid: dev.devid,
      xspath: dev.otherend,
    });
    let unbind = (): void => {};
    const err = console.attachRing(m!.page, (onEvent) => {
      const ch: EventChannel = dev.env.events.bindInterdomain(dev.otherendId, remote, {
        lateEoi: true,
        onEvent,
      });
      unbind = dev.own(`port ${ch.port} (bound to d${dev.otherendId}:${remote})`, () => ch.close());
      return ch;
    });
    const stop = dev.own(`console d${dev.otherendId}/${dev.devid}`, () => console.shutdown());
    if (err !== undefined) {
      this.#errors.push(err);
      throw new Error(err);
    }
    dev.data = console;
    this.#served.set(dev, {
      console,
      release: () => {
        stop();
        unbind();
        unmap();
      },
    });
  }
}

/**
 * `xs` with `backend/console/<front>/0` left out of directory listings and watch events, so the
 * bus never probes the primary console's backend directory (it handles each event for the
 * device its path names).
 */
export function hidePrimaryConsole(xs: XenbusTransport): XenbusTransport {
  const primary = /^(?:\/local\/domain\/0\/)?backend\/console\/\d+$/;
  const primaryNode = /^(?:\/local\/domain\/0\/)?backend\/console\/\d+\/0(?:\/|$)/;
  const filter = (path: string, names: string[]): string[] =>
    primary.test(path) ? names.filter((n) => n !== "0") : names;
  return {
    read: (p) => xs.read(p),
    write: (p, v) => xs.write(p, v),
    mkdir: (p) => xs.mkdir(p),
    rm: (p) => xs.rm(p),
    exists: (p) => xs.exists(p),
    directory: async (p) => filter(p, await xs.directory(p)),
    watch: (p): Observable<XsWatchEvent> =>
      xs.watch(p).pipe(rxFilter((e) => !primaryNode.test(e.path))),
    transaction: (fn, opts) => xs.transaction((tx: XenbusOps) => fn(tx), opts),
  };
}
