/**
 * Options of `createHost` and `host.createDomain`, defaulted in one place.
 */
import type { ChaosOptions } from "@pvkit/hypervisor-sim";
import type { XenstoredQuotas } from "../xenstored/options.js";
import type { DeviceSpec } from "./device-spec.js";
import { HostError } from "./errors.js";
import type { GuestMain } from "./guest-context.js";
import type { XenconsoledOptions } from "../xenconsoled/xenconsoled.js";

export interface HostOptions {
  /** Scheduler mode: "auto" (default) pumps itself; "manual" is driven by the caller. */
  readonly mode?: "auto" | "manual";
  /** Seeded chaos for event delivery. */
  readonly chaos?: ChaosOptions;
  /**
   * The seed the run was made with (the test host's: chaos and faults derive from it); shown in
   * findings. Informational: the host draws nothing from it itself. Default none.
   */
  readonly seed?: number;
  /** xenstored quota overrides (cxenstored 4.17 defaults otherwise). */
  readonly quotas?: Partial<XenstoredQuotas>;
  /** Serve dom0 tools on this Unix socket (`XENSTORED_PATH=<path> xenstore-ls`). */
  readonly socketPath?: string;
  /** Wall-clock at boot, seconds since the epoch (default 2026-01-01T00:00:00Z). */
  readonly wallclockSec?: number;
  /** Dom0 RAM in MiB. Default 4. */
  readonly dom0Memory?: number;
  /**
   * xenconsoled in dom0, as on a real host: console 0 of every guest (mapped through reserved
   * grant ref 0, its port bound) and the extra consoles `device/console/N`, each to a log, stdout
   * and a terminal. Default on with `{ pty: false }` (no real pseudo-terminal in every test);
   * `true` or an options object runs it with the daemon's defaults (a real pty per console
   * unless `pty: false`); `false` turns it off.
   */
  readonly xenconsoled?: boolean | XenconsoledOptions;
  /**
   * xenstored's commit fault hook (XenstoredDomainHooks.commitFault): true fails that commit
   * with EAGAIN. The test host's `faults.xenstoreEagain` sets it; default none.
   */
  readonly xenstoreCommitFault?: (connId: number) => boolean;
}

export interface ResolvedHostOptions {
  readonly mode: "auto" | "manual";
  readonly chaos: ChaosOptions | undefined;
  readonly seed: number | undefined;
  readonly quotas: Partial<XenstoredQuotas> | undefined;
  readonly socketPath: string | undefined;
  readonly wallclockSec: number;
  readonly dom0Pages: number;
  readonly xenconsoled: XenconsoledOptions | undefined;
  readonly xenstoreCommitFault: ((connId: number) => boolean) | undefined;
}

/** The hypervisor's default boot wall-clock (2026-01-01T00:00:00Z). */
export const DEFAULT_WALLCLOCK_SEC = 1_767_225_600;

/** Pages per MiB. */
const PAGES_PER_MIB = 256;

export function resolveHostOptions(o: HostOptions = {}): ResolvedHostOptions {
  const mode = o.mode ?? "auto";
  if (mode !== "auto" && mode !== "manual")
    throw new HostError("ERR_BAD_OPTION", `mode must be "auto" or "manual", got ${String(mode)}`);
  return {
    mode,
    chaos: o.chaos,
    seed: o.seed,
    quotas: o.quotas,
    socketPath: o.socketPath,
    wallclockSec: o.wallclockSec ?? DEFAULT_WALLCLOCK_SEC,
    dom0Pages: mibToPages(o.dom0Memory ?? 4, "dom0Memory"),
    xenstoreCommitFault: o.xenstoreCommitFault,
    xenconsoled:
      o.xenconsoled === undefined
        ? { pty: false }
        : o.xenconsoled === true
          ? {}
          : o.xenconsoled || undefined,
  };
}

export interface CreateDomainOptions {
  /** The domain's name (unique among live domains, as libxl requires). */
  readonly name: string;
  /** RAM in MiB (xl's `memory`). Default 4. */
  readonly memory?: number;
  /** vCPUs. Default 1. */
  readonly vcpus?: number;
  /** Split devices to create (frontend and backend directories). Console 0 is always made. */
  readonly devices?: readonly DeviceSpec[];
  /** The guest program, started once the domain is unpaused. */
  readonly main?: GuestMain;
  /** `start_info.cmd_line` (ASCII, at most 1023 bytes). */
  readonly cmdline?: string;
  /** The domain's UUID; default: unique per host. */
  readonly uuid?: string;
}

export interface ResolvedDomainOptions {
  readonly name: string;
  readonly nrPages: number;
  readonly memoryKb: number;
  readonly vcpus: number;
  readonly devices: readonly DeviceSpec[];
  readonly main: GuestMain | undefined;
  readonly cmdline: string;
  readonly uuid: string | undefined;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function mibToPages(mib: number, what: string): number {
  if (!Number.isInteger(mib) || mib < 1 || mib > 512)
    throw new HostError("ERR_BAD_OPTION", `${what} must be 1..512 MiB, got ${mib}`);
  return mib * PAGES_PER_MIB;
}

/** @throws HostError ERR_BAD_OPTION for a bad option. */
export function resolveDomainOptions(o: CreateDomainOptions): ResolvedDomainOptions {
  if (o === null || typeof o !== "object")
    throw new HostError("ERR_BAD_OPTION", "createDomain needs an options object");
  if (
    typeof o.name !== "string" ||
    o.name.length === 0 ||
    o.name.length > 1024 ||
    /[\0]/.test(o.name)
  ) {
    throw new HostError(
      "ERR_BAD_OPTION",
      `domain name must be a non-empty string without NUL, got ${JSON.stringify(o.name)}`,
    );
  }
  const memory = o.memory ?? 4;
  const nrPages = mibToPages(memory, "memory");
  const vcpus = o.vcpus ?? 1;
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 32)
    throw new HostError("ERR_BAD_OPTION", `vcpus must be 1..32, got ${vcpus}`);
  if (o.main !== undefined && typeof o.main !== "function")
    throw new HostError("ERR_BAD_OPTION", "main must be a function");
  if (o.devices !== undefined && !Array.isArray(o.devices))
    throw new HostError("ERR_BAD_OPTION", "devices must be an array");
  if (o.uuid !== undefined && !UUID_RE.test(o.uuid))
    throw new HostError("ERR_BAD_OPTION", `uuid ${o.uuid} is not a lower-case UUID`);
  const cmdline = o.cmdline ?? "";
  if (typeof cmdline !== "string")
    throw new HostError("ERR_BAD_OPTION", "cmdline must be a string");
  return {
    name: o.name,
    nrPages,
    memoryKb: memory * 1024,
    vcpus,
    devices: o.devices ?? [],
    main: o.main,
    cmdline,
    uuid: o.uuid,
  };
}
