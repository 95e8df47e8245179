/**
 * A long-running host as `pvkit up` keeps it: the simulated host with xenstored on a socket and
 * xenconsoled giving every console a real pty, blkback in dom0 serving every vbd (storage from
 * the vbd's type/params/mode: disks.ts), the domains of a config, an optional trace recording,
 * and the operations the control socket offers (list, create, destroy, console).
 */
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import {
  type DestroyReport,
  type DomainHandle,
  type GuestMain,
  type Host,
  LocalXenbusTransport,
  type TraceRecorder,
  chromeTraceJson,
  createHost,
  recordTrace,
} from "@pvkit/toolstack";
import { type ServedBlkback, serveBlkback } from "@pvkit/split-drivers";
import { xenbusStateName } from "@pvkit/hypervisor-sim/abi";
import type { HostConfig, ResolvedDomain } from "../config/load-config.js";
import { CliError } from "../cli/cli-error.js";
import { pvkitCommand } from "../cli/output.js";
import type { DomainInfo } from "../control/control.js";
import { idleGuest, shellGuest } from "./guest-shell.js";
import { describeDisk, diskDevid, formatBytes, vbdSpecOf } from "./disks.js";

export interface HostSessionOptions {
  /** Serve xenstored here (for `XENSTORED_PATH`). */
  readonly xenstoredSocket?: string;
  /** Record a trace and write it here at close. */
  readonly trace?: string;
  /** Real ptys for the consoles (default true). */
  readonly pty?: boolean;
  /** Dom0 RAM, MiB. */
  readonly dom0Memory?: number;
}

export class HostSession {
  readonly host: Host;
  readonly #recorder: TraceRecorder | undefined;
  readonly #tracePath: string | undefined;
  readonly #configs = new Map<number, ResolvedDomain>();
  readonly #xs;
  readonly #blkbackXs: LocalXenbusTransport;
  /** blkback in dom0, serving every vbd of every domain. */
  readonly blkback: ServedBlkback;
  #closed: Promise<string | undefined> | undefined;

  private constructor(host: Host, opts: HostSessionOptions) {
    this.host = host;
    this.#tracePath = opts.trace;
    this.#recorder = opts.trace !== undefined ? recordTrace(host) : undefined;
    this.#xs = host.openXenstore();
    this.#blkbackXs = LocalXenbusTransport.open(host);
    this.blkback = serveBlkback(host, { xs: this.#blkbackXs });
  }

  /** Boots the host. @throws Error when the xenstored socket cannot be bound. */
  static async start(opts: HostSessionOptions = {}): Promise<HostSession> {
    const host = await createHost({
      ...(opts.xenstoredSocket !== undefined ? { socketPath: opts.xenstoredSocket } : {}),
      ...(opts.dom0Memory !== undefined ? { dom0Memory: opts.dom0Memory } : {}),
      xenconsoled: { pty: opts.pty ?? true },
    });
    return new HostSession(host, opts);
  }

  /**
   * Builds the domains of `config`, in order; lines saying what was made (and what was not).
   * @throws CliError when a name is taken or a build fails (domains built before it stay).
   */
  async createDomains(config: HostConfig): Promise<{ domains: DomainInfo[]; notes: string[] }> {
    const notes: string[] = [];
    const made: DomainInfo[] = [];
    for (const d of config.domains) {
      if (this.host.domains.some((x) => x.name === d.name))
        throw new CliError(
          `${config.file}: a domain named ${JSON.stringify(d.name)} is already running`,
        );
      const main = await this.#kernel(d, config.file);
      let handle: DomainHandle;
      try {
        handle = await this.host.createDomain({
          name: d.name,
          memory: d.memory,
          vcpus: d.vcpus,
          main,
          devices: [
            ...Array.from({ length: d.consoles }, (_, i) => ({
              kind: "console" as const,
              devid: i + 1,
            })),
            ...d.disks.map(vbdSpecOf),
          ],
        });
      } catch (err) {
        throw new CliError(`${config.file}: domain ${d.name}: ${(err as Error).message}`);
      }
      this.#configs.set(handle.domid, d);
      // A crash is reported, not fatal to the host.
      handle.done.catch((err: unknown) =>
        notes.push(`d${handle.domid} ${d.name} crashed: ${(err as Error).message}`),
      );
      await this.host.hv.settle();
      const info = this.info(handle.domid);
      made.push(info);
      notes.push(
        `d${handle.domid} ${d.name}: ${d.memory} MiB, ${d.vcpus} vCPU${d.vcpus > 1 ? "s" : ""}, kernel ${"builtin" in d.kernel ? d.kernel.builtin : d.kernel.module}, console ${info.tty ?? "(no pty)"}${d.consoles > 0 ? ` + ${d.consoles} extra` : ""}`,
      );
      for (const disk of d.disks) notes.push(`  ${describeDisk(disk)}`);
    }
    return { domains: made, notes };
  }

  async #kernel(d: ResolvedDomain, file: string): Promise<GuestMain> {
    if ("builtin" in d.kernel)
      return d.kernel.builtin === "idle"
        ? idleGuest
        : shellGuest(
            d.consoles,
            d.disks.map((x) => ({ devid: diskDevid(x), vdev: x.vdev })),
          );
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(d.kernel.module).href)) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(
        `${file}: domain ${d.name}: kernel ${d.kernel.module} failed to load: ${(err as Error).message}`,
      );
    }
    const main = mod.default ?? mod.main;
    if (typeof main !== "function")
      throw new CliError(
        `${file}: domain ${d.name}: kernel ${d.kernel.module} exports no default or \`main\` function (a GuestMain)`,
      );
    return main as GuestMain;
  }

  /** The domain named `ref` (a name, or a domid). @throws CliError when there is none. */
  find(ref: string): DomainHandle {
    const byId = /^\d+$/.test(ref) ? this.host.domain(Number(ref)) : undefined;
    const d = byId ?? this.host.domains.find((x) => x.name === ref);
    if (d === undefined)
      throw new CliError(
        `no domain ${JSON.stringify(ref)} (${pvkitCommand()} list shows the running ones)`,
      );
    return d;
  }

  /** What `pvkit list` shows of one domain. */
  info(domid: number): DomainInfo {
    const h = this.host.domain(domid);
    const dom = this.host.hv.domainById(domid);
    const cfg = this.#configs.get(domid);
    const state =
      dom === undefined
        ? "gone"
        : dom.isDying
          ? "dying"
          : (h as { crash?: unknown } | undefined)?.crash !== undefined
            ? "crashed"
            : dom.isPaused
              ? "paused"
              : "running";
    return {
      domid,
      name: h?.name ?? dom?.name ?? `d${domid}`,
      memory: cfg?.memory ?? (dom !== undefined ? dom.options.nrPages / 256 : 0),
      vcpus: dom?.vcpus.length ?? 0,
      state,
      tty: this.host.xenconsoled?.console(domid)?.ttyPath,
      devices: this.devices(domid),
    };
  }

  /** Each device of `domid`: "<type>/<devid> frontend <state>, backend <state>". */
  devices(domid: number): string[] {
    const out: string[] = [];
    const dir = (p: string): string[] => {
      try {
        return this.#xs.directory(p);
      } catch {
        return [];
      }
    };
    const state = (p: string): string => {
      try {
        const v = Number(this.#xs.readString(`${p}/state`));
        return xenbusStateName(v).replace(/^XenbusState/, "");
      } catch {
        return "-";
      }
    };
    const fe = `/local/domain/${domid}/device`;
    for (const type of dir(fe)) {
      for (const id of dir(`${fe}/${type}`).filter((x) => /^\d+$/.test(x))) {
        let be = "";
        try {
          be = this.#xs.readString(`${fe}/${type}/${id}/backend`);
        } catch {
          // no backend path
        }
        const vbd = type === "vbd" && be !== "";
        out.push(
          `${type}/${id}${vbd ? this.#vbdName(be) : ""} frontend ${state(`${fe}/${type}/${id}`)}, backend ${be === "" ? "-" : state(be)}${vbd ? this.#vbdSize(be) : ""}`,
        );
      }
    }
    return out;
  }

  /** " (<vdev>)" from the backend's `dev` (libxl writes the name the config used). */
  #vbdName(be: string): string {
    try {
      return ` (${this.#xs.readString(`${be}/dev`)})`;
    } catch {
      return "";
    }
  }

  /** ", <size> (<n> sectors of <s> bytes)" from the backend's `sectors` and `sector-size` (io/blkif.h), once blkback wrote them. */
  #vbdSize(be: string): string {
    try {
      const sectors = Number(this.#xs.readString(`${be}/sectors`));
      const size = Number(this.#xs.readString(`${be}/sector-size`));
      if (!Number.isSafeInteger(sectors) || !Number.isSafeInteger(size)) return "";
      // `sectors` counts 512-byte units whatever the sector size (blkif.h).
      return `, ${formatBytes(sectors * 512)} (${sectors} sectors, ${size}-byte logical)`;
    } catch {
      return "";
    }
  }

  list(): DomainInfo[] {
    return [this.info(0), ...this.host.domains.map((d) => this.info(d.domid))];
  }

  /** The pty of console `num` of `ref`. @throws CliError without one. */
  consoleTty(ref: string, num = 0): { domid: number; name: string; tty: string } {
    const d = this.find(ref);
    const c =
      num === 0
        ? this.host.xenconsoled?.console(d.domid)
        : this.host.xenconsoled?.extraConsole(d.domid, num);
    const tty = c?.ttyPath;
    if (tty === undefined)
      throw new CliError(`d${d.domid} ${d.name} has no console ${num} with a pty`);
    return { domid: d.domid, name: d.name, tty };
  }

  /**
   * Destroys `ref` as `xl destroy` does; each device's outcome ("closed": its backend reached
   * Closed; "timeout": libxl's 10 s of virtual time ran out; "console": console 0, which has no
   * handshake), and the virtual and real time it took.
   */
  async destroy(ref: string): Promise<{
    domid: number;
    name: string;
    devices: { device: string; outcome: string; waitedNs: number }[];
    timedOut: number;
    virtualNs: number;
    wallMs: number;
  }> {
    const d = this.find(ref);
    if (d.domid === 0) throw new CliError("Domain-0 cannot be destroyed (stop the host instead)");
    const t0 = performance.now();
    const v0 = this.host.hv.now;
    const r: DestroyReport = await this.host.destroyDomain(d.domid);
    this.#configs.delete(d.domid);
    return {
      domid: r.domid,
      name: r.name,
      devices: r.devices.map((x) => ({
        device: `${x.kind}/${x.devid}`,
        outcome: x.outcome,
        waitedNs: x.waitedNs,
      })),
      timedOut: r.timedOut.length,
      virtualNs: this.host.hv.now - v0,
      wallMs: Math.round(performance.now() - t0),
    };
  }

  /** Tears the host down and writes the trace (returning its path) when recording. Idempotent. */
  close(): Promise<string | undefined> {
    this.#closed ??= (async () => {
      for (const d of this.host.domains)
        await this.host.destroyDomain(d.domid).catch(() => undefined);
      await this.blkback.close().catch(() => undefined);
      this.#blkbackXs.close();
      const snap = this.#recorder?.snapshot();
      this.#recorder?.stop();
      await this.host.close();
      if (snap === undefined || this.#tracePath === undefined) return undefined;
      writeFileSync(
        this.#tracePath,
        chromeTraceJson(snap, { metadata: { command: process.argv.slice(2).join(" ") } }),
      );
      return this.#tracePath;
    })();
    return this.#closed;
  }
}
