/**
 * Device specifications for `host.createDomain({ devices })` and the xenstore keys libxl 4.17
 * writes for each (`device_disk_add` in libxl_disk.c, `libxl__device_console_add` in
 * libxl_console.c; the keys of `io/blkif.h` and `io/console.h`), turned into a
 * {@link DeviceEntries} that `libxl__device_generic_add` (`device-add.ts`) writes.
 */
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import { HostError } from "./errors.js";

/** A virtual block device (blkfront/blkback). */
export interface VbdSpec {
  readonly kind: "vbd";
  /** Backend domain. Default 0. */
  readonly backend?: number;
  /** Guest device name, e.g. "xvda" (default), "xvdb1", "hda", "sda". */
  readonly vdev?: string;
  /** The devid; default derived from `vdev` (xen-vbd-interface(7)): xvda = 51712. */
  readonly devid?: number;
  /** Backend directory kind: "vbd" (blkback, default) or "qdisk". */
  readonly backendKind?: string;
  /** Backend `type`: "phy" (default), "qdisk", ... */
  readonly type?: string;
  /** Backend `params`: the target. Default "". */
  readonly params?: string;
  /** Read-write ("w", default) or read-only ("r"). */
  readonly mode?: "w" | "r";
  /** "disk" (default) or "cdrom". */
  readonly deviceType?: "disk" | "cdrom";
  readonly removable?: boolean;
  /** Backend `discard-enable`. Default true. */
  readonly discard?: boolean;
  /** Frontend `trusted`. Default true. */
  readonly trusted?: boolean;
  /** Backend `script`, when a hotplug script is named. */
  readonly script?: string;
  /** Extra backend / frontend keys (written after libxl's, relative to the directory). */
  readonly backendKeys?: Readonly<Record<string, string>>;
  readonly frontendKeys?: Readonly<Record<string, string>>;
}

/** An extra PV console (`device/console/<devid>`, devid ≥ 1; console 0 is always built). */
export interface ConsoleSpec {
  readonly kind: "console";
  readonly backend?: number;
  /** Default 1. Must be ≥ 1. */
  readonly devid?: number;
  readonly name?: string;
  /** `output`. Default "pty". */
  readonly output?: string;
  readonly backendKeys?: Readonly<Record<string, string>>;
  readonly frontendKeys?: Readonly<Record<string, string>>;
}

/** Any other split device: libxl's generic keys plus the ones given. */
export interface GenericDeviceSpec {
  readonly kind: string;
  readonly backend?: number;
  readonly devid: number;
  readonly backendKeys?: Readonly<Record<string, string>>;
  readonly frontendKeys?: Readonly<Record<string, string>>;
}

export type DeviceSpec = VbdSpec | ConsoleSpec | GenericDeviceSpec;

/** What `libxl__device_generic_add` gets: a `libxl__device` and its three key lists. */
export interface DeviceEntries {
  /** Frontend kind (`device/<kind>`), and the /libxl copy's kind. */
  readonly kind: string;
  /** Backend directory kind (`backend/<backendKind>`). */
  readonly backendKind: string;
  readonly devid: number;
  readonly domid: number;
  readonly backendDomid: number;
  /** Backend keys (also copied to `/libxl/<id>/device/<kind>/<devid>`). */
  readonly back: [string, string][];
  /** Frontend keys the guest owns (`n<domid> r<backend>`). */
  readonly front: [string, string][];
  /** Frontend keys read-only to the guest (`n<backend> r<domid>`). */
  readonly roFront: [string, string][];
}

/** `XenbusStateInitialising`, as xenstore holds it. */
const INITIALISING = String(XenbusState.XenbusStateInitialising);
/** `LIBXL_XENCONSOLE_LIMIT`. */
export const LIBXL_XENCONSOLE_LIMIT = 1048576;
/** `LIBXL_XENCONSOLE_PROTOCOL`. */
export const LIBXL_XENCONSOLE_PROTOCOL = "vt100";

const KIND_RE = /^[A-Za-z0-9_-]+$/;
const KEY_RE = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;

/**
 * The devid of a vbd name (docs/man/xen-vbd-interface.7): `xvd<disk><part>` → 202<<8 form below
 * 16 disks/partitions, the 1<<28 form above; `hd` and `sd` forms; plain numbers as they are.
 * @throws HostError ERR_BAD_OPTION for a name it cannot encode.
 */
export function vbdDevid(vdev: string): number {
  if (/^\d+$/.test(vdev)) return Number(vdev);
  const m = /^(xvd|hd|sd)([a-z]+)(\d*)$/.exec(vdev);
  if (!m) throw new HostError("ERR_BAD_OPTION", `cannot encode vbd name ${JSON.stringify(vdev)}`);
  const [, prefix, letters, partStr] = m as unknown as [string, string, string, string];
  let disk = 0;
  for (const ch of letters) disk = disk * 26 + (ch.charCodeAt(0) - 96);
  disk -= 1; // "a" = 0, "z" = 25, "aa" = 26
  const part = partStr === "" ? 0 : Number(partStr);
  if (prefix === "xvd") {
    if (disk < 16 && part < 16) return (202 << 8) | (disk << 4) | part;
    if (disk < 1 << 20 && part < 256) return ((1 << 28) | (disk << 8) | part) >>> 0;
  } else if (prefix === "sd") {
    if (disk < 16 && part < 16) return (8 << 8) | (disk << 4) | part;
  } else if (disk < 4 && part < 64) {
    return disk < 2 ? (3 << 8) | (disk << 6) | part : (22 << 8) | ((disk - 2) << 6) | part;
  }
  throw new HostError("ERR_BAD_OPTION", `vbd name ${vdev} is out of range`);
}

function extra(
  keys: Readonly<Record<string, string>> | undefined,
  what: string,
): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(keys ?? {})) {
    if (!KEY_RE.test(k))
      throw new HostError(
        "ERR_BAD_OPTION",
        `${what} key ${JSON.stringify(k)} is not a relative xenstore path`,
      );
    if (typeof v !== "string")
      throw new HostError("ERR_BAD_OPTION", `${what} key ${k} must have a string value`);
    out.push([k, v]);
  }
  return out;
}

function checkDomid(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 0x7ff0)
    throw new HostError("ERR_BAD_OPTION", `${what} ${v} is not a domid`);
  return v;
}

/** The primary console's entries (`libxl__device_console_add` with build state: port, ring-ref). */
export function primaryConsoleEntries(
  domid: number,
  backendDomid: number,
  port: number,
  ringGfn: number,
): DeviceEntries {
  return {
    kind: "console",
    backendKind: "console",
    devid: 0,
    domid,
    backendDomid,
    back: [
      ["frontend-id", String(domid)],
      ["online", "1"],
      ["state", INITIALISING],
      ["protocol", LIBXL_XENCONSOLE_PROTOCOL],
    ],
    front: [["backend-id", String(backendDomid)]],
    roFront: [
      ["limit", String(LIBXL_XENCONSOLE_LIMIT)],
      ["type", "xenconsoled"],
      ["output", "pty"],
      ["tty", ""],
      ["port", String(port)],
      ["ring-ref", String(ringGfn)],
    ],
  };
}

/**
 * The entries libxl writes for `spec` on domain `domid`.
 * @throws HostError ERR_BAD_OPTION for a malformed spec.
 */
export function deviceEntries(domid: number, spec: DeviceSpec): DeviceEntries {
  if (
    spec === null ||
    typeof spec !== "object" ||
    typeof spec.kind !== "string" ||
    !KIND_RE.test(spec.kind)
  ) {
    throw new HostError(
      "ERR_BAD_OPTION",
      `device kind must match ${KIND_RE}, got ${JSON.stringify((spec as { kind?: unknown })?.kind)}`,
    );
  }
  const backendDomid = checkDomid(spec.backend ?? 0, "backend");
  if (spec.kind === "vbd") {
    const s = spec as VbdSpec;
    const vdev = s.vdev ?? "xvda";
    const devid = s.devid ?? vbdDevid(vdev);
    const deviceType = s.deviceType ?? "disk";
    const back: [string, string][] = [];
    back.push(["params", s.params ?? ""]);
    if (s.script !== undefined) back.push(["script", s.script]);
    back.push(
      ["frontend-id", String(domid)],
      ["online", "1"],
      ["removable", s.removable ? "1" : "0"],
      ["bootable", "1"],
      ["state", INITIALISING],
      ["dev", vdev],
      ["type", s.type ?? "phy"],
      ["mode", s.mode ?? "w"],
      ["device-type", deviceType],
      ["discard-enable", s.discard === false ? "0" : "1"],
      ["specification", "xen"],
    );
    const front: [string, string][] = [
      ["backend-id", String(backendDomid)],
      ["state", INITIALISING],
      ["virtual-device", String(devid)],
      ["device-type", deviceType],
      ["trusted", s.trusted === false ? "0" : "1"],
      ["protocol", "x86_64-abi"],
    ];
    return {
      kind: "vbd",
      backendKind: s.backendKind ?? "vbd",
      devid: checkDevid(devid),
      domid,
      backendDomid,
      back: [...back, ...extra(s.backendKeys, "backend")],
      front: [...front, ...extra(s.frontendKeys, "frontend")],
      roFront: [],
    };
  }
  if (spec.kind === "console") {
    const s = spec as ConsoleSpec;
    const devid = s.devid ?? 1;
    if (devid === 0)
      throw new HostError(
        "ERR_BAD_OPTION",
        "console 0 is the primary console; the builder always creates it",
      );
    const back: [string, string][] = [
      ["frontend-id", String(domid)],
      ["online", "1"],
      ["state", INITIALISING],
      ["protocol", LIBXL_XENCONSOLE_PROTOCOL],
    ];
    const roFront: [string, string][] = [];
    if (s.name !== undefined) {
      roFront.push(["name", s.name]);
      back.push(["name", s.name]);
    }
    roFront.push(
      ["limit", String(LIBXL_XENCONSOLE_LIMIT)],
      ["type", "xenconsoled"],
      ["output", s.output ?? "pty"],
      ["tty", ""],
    );
    return {
      kind: "console",
      backendKind: "console",
      devid: checkDevid(devid),
      domid,
      backendDomid,
      back: [...back, ...extra(s.backendKeys, "backend")],
      front: [
        ["backend-id", String(backendDomid)],
        ["state", INITIALISING],
        ["protocol", LIBXL_XENCONSOLE_PROTOCOL],
        ...extra(s.frontendKeys, "frontend"),
      ],
      roFront,
    };
  }
  const s = spec as GenericDeviceSpec;
  return {
    kind: s.kind,
    backendKind: s.kind,
    devid: checkDevid(s.devid),
    domid,
    backendDomid,
    back: [
      ["frontend-id", String(domid)],
      ["online", "1"],
      ["state", INITIALISING],
      ...extra(s.backendKeys, "backend"),
    ],
    front: [
      ["backend-id", String(backendDomid)],
      ["state", INITIALISING],
      ...extra(s.frontendKeys, "frontend"),
    ],
    roFront: [],
  };
}

function checkDevid(devid: number): number {
  if (!Number.isInteger(devid) || devid < 0 || devid > 0x7fffffff)
    throw new HostError("ERR_BAD_OPTION", `devid ${devid} out of range`);
  return devid;
}
