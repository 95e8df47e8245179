/**
 * xl's disk spec strings (xl-disk-configuration(5)), parsed as libxlu's disk lexer does for the
 * common forms (tools/libs/util/libxlu_disk_l.l):
 *
 * ```
 * 'disk.img,raw,xvda,rw'                         positional: target, format, vdev, access
 * 'disk.img,,xvda'                               empty values take the defaults
 * 'format=raw, vdev=xvda, access=w, target=disk.img'
 * 'file:disk.img,xvda,w'                         deprecated prefix: format is skipped
 * 'raw:disk.img,xvda,w'                          deprecated format prefix
 * ```
 *
 * As in libxlu: keys and flags are recognised first (`format=`, `vdev=`, `access=`, `devtype=`,
 * `cdrom`, `backendtype=`, `script=`, `discard`/`no-discard`, `trusted`/`untrusted`,
 * `direct-io-safe`, and `target=` which eats the rest of the string); a deprecated prefix
 * (`file:`, `phy:`, `aio:`, `tap:`, `tap2:`, `tapdisk:`, `ioemu:`; `raw:`, `qcow:`, `qcow2:`,
 * `vhd:` setting the format) means the format is not positional; other parameters fill the
 * positional slots in order, an empty one taking its default; each may be given once
 * ("vdev respecified"); unknown `key=value` and unknown prefixes are errors.
 *
 * pvkit extensions, which xl itself would not accept: the target `memory:<size>` (a disk in
 * memory, e.g. `memory:64M`) and the flag `overlay` (writes go to memory over the image, which
 * is opened read-only: blkback's "cow" storage).
 */

/** A disk as an xl spec string describes it. */
export interface XlDisk {
  /** The target (image path, or `memory:<size>`); undefined for an empty cdrom. */
  readonly target: string | undefined;
  readonly format: "raw" | "qcow" | "qcow2" | "vhd" | "qed" | "empty";
  readonly vdev: string;
  /** "w" read-write (default) or "r" read-only (default for a cdrom). */
  readonly access: "r" | "w";
  readonly cdrom: boolean;
  readonly backendtype: "phy" | "tap" | "qdisk" | "standalone" | undefined;
  readonly script: string | undefined;
  readonly discard: boolean | undefined;
  readonly trusted: boolean | undefined;
  readonly directIoSafe: boolean;
  /** pvkit extension: copy-on-write in memory over the image. */
  readonly overlay: boolean;
}

/** A spec xl would refuse, with libxlu's words for why. */
export class DiskSpecError extends Error {
  /** The offending part of the spec. */
  readonly token: string;
  constructor(token: string, reason: string) {
    super(`${reason}${token === "" ? "" : ` (at ${JSON.stringify(token)})`}`);
    this.name = "DiskSpecError";
    this.token = token;
  }
}

const FORMATS = ["raw", "qcow", "qcow2", "vhd", "qed", "empty"] as const;
const BACKENDTYPES = ["phy", "tap", "qdisk", "standalone"] as const;
const IGNORED_PREFIXES = ["tapdisk", "tap", "tap2", "aio", "ioemu", "file", "phy"];
const FORMAT_PREFIXES = ["raw", "qcow", "qcow2", "vhd"];
const SCRIPT_PREFIXES = ["iscsi", "nbd", "enbd", "drbd"];

interface Draft {
  target: string | undefined;
  format: XlDisk["format"] | undefined;
  vdev: string | undefined;
  access: "r" | "w" | undefined;
  cdrom: boolean;
  backendtype: XlDisk["backendtype"];
  script: string | undefined;
  discard: boolean | undefined;
  trusted: boolean | undefined;
  directIoSafe: boolean;
  overlay: boolean;
  hadPrefix: boolean;
}

/** `savestring`: a string may be set once, except over an empty one. */
function save(d: Draft, key: "target" | "vdev" | "script", value: string): void {
  const cur = d[key];
  if (cur !== undefined && cur !== "")
    throw new DiskSpecError(value, `${key === "target" ? "target" : key} respecified`);
  d[key] = value;
}

/** `setformat` with DSET: "" is raw; setting a different format twice is an error. */
function setFormat(d: Draft, v: string): void {
  const f =
    v === ""
      ? "raw"
      : (FORMATS as readonly string[]).includes(v)
        ? (v as XlDisk["format"])
        : undefined;
  if (f === undefined) throw new DiskSpecError(v, "unknown value for format");
  if (d.format !== undefined && d.format !== f) throw new DiskSpecError(v, "format respecified");
  d.format = f;
}

/** `setaccess`: r/ro read-only, rw/w/"" read-write. */
function setAccess(d: Draft, v: string): void {
  if (v === "r" || v === "ro") d.access = "r";
  else if (v === "rw" || v === "w" || v === "") d.access = "w";
  else throw new DiskSpecError(v, "unknown value for access");
}

/** `vdev_and_devtype`: the deprecated `<vdev>:<devtype>`; false when there is no colon. */
function vdevAndDevtype(d: Draft, v: string): boolean {
  const colon = v.lastIndexOf(":");
  if (colon < 0) return false;
  save(d, "vdev", v.slice(0, colon));
  const type = v.slice(colon + 1);
  if (type === "cdrom") d.cdrom = true;
  else if (type === "disk") d.cdrom = false;
  else throw new DiskSpecError(type, "unknown deprecated type");
  return true;
}

/** One parameter (the text between commas, leading whitespace removed). */
function parameter(d: Draft, p: string, positional: () => void): void {
  const eq = p.indexOf("=");
  const key = eq < 0 ? p : p.slice(0, eq);
  const value = eq < 0 ? "" : p.slice(eq + 1);
  if (eq >= 0) {
    switch (key) {
      case "format":
        return setFormat(d, value);
      case "access":
        return setAccess(d, value);
      case "vdev":
        return save(d, "vdev", value);
      case "script":
        return save(d, "script", value);
      case "devtype":
        if (value === "cdrom") d.cdrom = true;
        else if (value === "disk") d.cdrom = false;
        else throw new DiskSpecError(p, "unknown value for type");
        return;
      case "backendtype": {
        if (!(BACKENDTYPES as readonly string[]).includes(value))
          throw new DiskSpecError(value, "unknown value for backendtype");
        if (d.backendtype !== undefined && d.backendtype !== value)
          throw new DiskSpecError(value, "backendtype respecified");
        d.backendtype = value as XlDisk["backendtype"];
        return;
      }
      case "backend":
        throw new DiskSpecError(p, "backend= (a driver domain) is not supported by pvkit up");
    }
    if (/^[a-z][-a-z0-9]*$/.test(key)) throw new DiskSpecError(p, "unknown parameter");
    throw new DiskSpecError(p, "bad disk syntax");
  }
  switch (p) {
    case "cdrom":
      d.cdrom = true;
      return;
    case "direct-io-safe":
      d.directIoSafe = true;
      return;
    case "discard":
      d.discard = true;
      return;
    case "no-discard":
      d.discard = false;
      return;
    case "trusted":
      d.trusted = true;
      return;
    case "untrusted":
      d.trusted = false;
      return;
    case "overlay":
      d.overlay = true;
      return;
  }
  positional();
}

/**
 * Parses one xl disk spec.
 * @throws DiskSpecError naming the part of the spec and the reason, in libxlu's words
 *   ("unknown value for format", "vdev respecified", "too many positional parameters", ...).
 */
export function parseDiskSpec(spec: string): XlDisk {
  const d: Draft = {
    target: undefined,
    format: undefined,
    vdev: undefined,
    access: undefined,
    cdrom: false,
    backendtype: undefined,
    script: undefined,
    discard: undefined,
    trusted: undefined,
    directIoSafe: false,
    overlay: false,
    hadPrefix: false,
  };
  let rest = spec;
  while (rest.length > 0) {
    rest = rest.replace(/^[ \t\n]+/, "");
    if (rest.startsWith("target=")) {
      // The magic parameter: everything after it, a trailing comma stripped.
      save(d, "target", rest.slice("target=".length).replace(/,$/, ""));
      break;
    }
    // Deprecated prefixes, each followed by the rest of the spec.
    const m = /^([a-z][a-z0-9]*):/.exec(rest);
    if (m) {
      const prefix = m[1]!;
      const after = rest.slice(m[0].length);
      const known =
        FORMAT_PREFIXES.includes(prefix) ||
        SCRIPT_PREFIXES.includes(prefix) ||
        IGNORED_PREFIXES.includes(prefix);
      if (!known && (after === "" || /^[^a-z0-9]/.test(after)))
        throw new DiskSpecError(rest, "unknown deprecated disk prefix");
      if (known) {
        if (FORMAT_PREFIXES.includes(prefix)) setFormat(d, prefix);
        else if (SCRIPT_PREFIXES.includes(prefix)) save(d, "script", `block-${prefix}`);
        d.hadPrefix = true;
        rest = after;
        continue;
      }
    }
    const comma = rest.indexOf(",");
    const p = comma < 0 ? rest : rest.slice(0, comma);
    rest = comma < 0 ? "" : rest.slice(comma + 1);
    parameter(d, p, () => {
      if (d.target === undefined) d.target = p;
      else if (!d.hadPrefix && d.format === undefined) {
        if (d.target === "" && vdevAndDevtype(d, p)) d.format = "empty";
        else setFormat(d, p);
      } else if (d.vdev === undefined) {
        if (!vdevAndDevtype(d, p)) save(d, "vdev", p);
      } else if (d.access === undefined) setAccess(d, p);
      else throw new DiskSpecError(p, "too many positional parameters");
    });
  }
  if (d.vdev === undefined || d.vdev === "") throw new DiskSpecError(spec, "no vdev specified");
  const target = d.target === "" ? undefined : d.target;
  if (target === undefined && !d.cdrom)
    throw new DiskSpecError(spec, "no target specified (only an empty cdrom may have none)");
  return {
    target,
    format: d.format ?? (target === undefined ? "empty" : "raw"),
    vdev: d.vdev,
    access: d.access ?? (d.cdrom ? "r" : "w"),
    cdrom: d.cdrom,
    backendtype: d.backendtype,
    script: d.script,
    discard: d.discard,
    trusted: d.trusted,
    directIoSafe: d.directIoSafe,
    overlay: d.overlay,
  };
}
