/**
 * `libxl_domain_create_new` for a pvkit guest, step by step in libxl 4.17's order:
 *
 * 1. XEN_DOMCTL_createdomain, paused (`libxl__domain_make`), then its xenstore skeleton
 *    (libxl-tree.ts);
 * 2. the build (domain-builder.ts): store and console ports, zeroed ring pages, shared_info,
 *    start_info, reserved grant entries 0 and 1;
 * 3. `libxl__build_post`: memory/domid/store keys, then INTRODUCE to xenstored (which maps grant
 *    ref 1 and binds the store port through the ring transport; `@introduceDomain` fires);
 * 4. console 0 (`libxl__device_console_add`), then each device (`libxl__device_generic_add`,
 *    one transaction each);
 * 5. unpause, and start the guest's `main` with what the guest has (guest-context.ts).
 *
 * A failure in steps 1–4 destroys the half-built domain and removes its nodes.
 */
import type { Hypervisor } from "@pvkit/hypervisor-sim";
import {
  LIBXL_DEFAULT_MAX_EVTCHN_PORT,
  readStartInfo,
  XEN_PAGE_SHIFT,
} from "@pvkit/hypervisor-sim/abi";
import { EventChannels, XenbusClient } from "@pvkit/guest-sdk";
import { bootLayout } from "./boot-layout.js";
import { addDevice } from "./device-add.js";
import { deviceEntries, primaryConsoleEntries } from "./device-spec.js";
import { buildDomain } from "./domain-builder.js";
import { type DestroyOptions, type DestroyReport, DomainRecord } from "./domain-handle.js";
import { HostError } from "./errors.js";
import type { GuestContext } from "./guest-context.js";
import type { Dom0 } from "./host.js";
import { type CreateDomainOptions, resolveDomainOptions } from "./host-options.js";
import { domPath, libxlPath, vmPath, writeBuildPost, writeDomainSkeleton } from "./libxl-tree.js";
import type { XsSession } from "./xs-session.js";

/** The xenstore domain and the console backend domain: dom0 on this host. */
const XENSTORE_DOMID = 0;
const CONSOLE_DOMID = 0;

/** What the host lends the builder. */
export interface CreateDomainRequest {
  readonly hv: Hypervisor;
  readonly xs: XsSession;
  readonly dom0: Dom0;
  readonly options: CreateDomainOptions;
  /** Whether a name is in use (libxl refuses a duplicate). */
  readonly nameTaken: (name: string) => boolean;
  readonly nextUuid: () => string;
  readonly wallclockSec: number;
  readonly destroy: (domid: number, opts?: DestroyOptions) => Promise<DestroyReport>;
  readonly register: (r: DomainRecord) => void;
  readonly crashed: (r: DomainRecord, error: unknown) => void;
}

/** libxl's `start_time`: seconds "." two digits of centiseconds. */
function startTime(wallclockSec: number, nowNs: number): string {
  const sec = wallclockSec + Math.floor(nowNs / 1e9);
  const cs = Math.floor((nowNs % 1e9) / 1e7);
  return `${sec}.${String(cs).padStart(2, "0")}`;
}

/**
 * Builds, registers and starts a domain (see the module comment).
 * @throws HostError ERR_BAD_OPTION, ERR_NAME_TAKEN, ERR_BUILD.
 */
export function buildNewDomain(req: CreateDomainRequest): DomainRecord {
  const o = resolveDomainOptions(req.options);
  if (req.nameTaken(o.name))
    throw new HostError(
      "ERR_NAME_TAKEN",
      `a domain named ${JSON.stringify(o.name)} already exists`,
    );
  const layout = bootLayout(o.nrPages);
  // Device specs are checked before anything is created (domid filled in below).
  for (const spec of o.devices) deviceEntries(1, spec);
  const { hv, xs } = req;
  const uuid = o.uuid ?? req.nextUuid();
  // libxl passes b_info->event_channels (default 1023) as max_evtchn_port.
  const dom = hv.createDomain({
    name: o.name,
    vcpus: o.vcpus,
    nrPages: o.nrPages,
    maxEvtchnPort: LIBXL_DEFAULT_MAX_EVTCHN_PORT,
    paused: true,
  });
  const domid = dom.domid;
  let record: DomainRecord | undefined;
  try {
    const info = {
      domid,
      name: o.name,
      uuid,
      memoryKb: o.memoryKb,
      vcpus: o.vcpus,
      storePort: 0,
      storeGfn: layout.xenstoreGfn,
      startTime: startTime(req.wallclockSec, hv.now),
      kernel: "pvkit:main",
    };
    writeDomainSkeleton(xs, info);
    const built = buildDomain({
      hv,
      dom0: req.dom0.guest,
      domid,
      nrPages: o.nrPages,
      layout,
      xenstoreDomid: XENSTORE_DOMID,
      consoleDomid: CONSOLE_DOMID,
      cmdline: o.cmdline,
    });
    writeBuildPost(xs, { ...info, storePort: built.storePort });
    xs.client.introduce(domid, layout.xenstoreGfn, built.storePort);
    addDevice(
      xs,
      primaryConsoleEntries(domid, CONSOLE_DOMID, built.consolePort, layout.consoleGfn),
    );
    for (const spec of o.devices) addDevice(xs, deviceEntries(domid, spec));
    record = new DomainRecord(
      {
        domid,
        name: o.name,
        uuid,
        layout,
        storePort: built.storePort,
        consolePort: built.consolePort,
      },
      (opts) => req.destroy(domid, opts),
    );
  } catch (err) {
    // libxl's error path: the half-built domain goes, with its nodes.
    for (const p of [vmPath(uuid), domPath(domid), libxlPath(domid)]) {
      try {
        xs.rm(p);
      } catch {
        // best effort
      }
    }
    try {
      xs.client.release(domid);
    } catch {
      // not introduced yet
    }
    hv.destroyDomain(domid);
    if (err instanceof HostError) throw err;
    throw new HostError(
      "ERR_BUILD",
      `building d${domid} (${o.name}) failed: ${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    );
  }
  req.register(record);
  hv.unpauseDomain(domid);
  startMain(req, record, o.main);
  return record;
}

/** Starts `main` in a later microtask, with the guest's own view of its boot state. */
function startMain(
  req: CreateDomainRequest,
  r: DomainRecord,
  main: CreateDomainOptions["main"],
): void {
  if (main === undefined) {
    r.mainReturned();
    return;
  }
  void Promise.resolve()
    .then(async () => {
      const guest = req.hv.guest(r.domid);
      // The guest reads its start_info from its own memory, as a PV kernel at entry.
      const startInfo = readStartInfo(guest.memory.page(r.layout.startInfoGfn));
      const events = EventChannels.of(guest, {
        sharedInfoGfn: Math.floor(startInfo.shared_info / 2 ** XEN_PAGE_SHIFT),
      });
      // A throw in the guest's event handling (an onEvent handler, an events$ subscriber) is an
      // oops in its interrupt handler: the domain crashes with it, as if `main` had thrown. After
      // the upcall (a microtask), not from inside it; in virtual time, never on a real timer.
      events.errors$.subscribe((e) =>
        queueMicrotask(() => {
          r.handlerFailed(e.error);
          req.crashed(r, e.error);
        }),
      );
      const startInfoGfn = r.layout.startInfoGfn;
      let xenbus: XenbusClient | undefined;
      const ctx: GuestContext = {
        domid: r.domid,
        name: r.name,
        guest,
        events,
        startInfoGfn,
        startInfo,
        get xenbus(): XenbusClient {
          xenbus ??= XenbusClient.fromStartInfo(guest, events, { startInfoGfn });
          return xenbus;
        },
        signal: r.abort.signal,
      };
      r.context = ctx;
      await main(ctx);
    })
    .then(
      () => r.mainReturned(),
      (err: unknown) => {
        r.mainFailed(err);
        req.crashed(r, err);
      },
    );
}
