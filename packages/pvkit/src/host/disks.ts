/**
 * A config's disks as vbd devices: the backend keys libxl writes (`type`, `params`, `mode`),
 * chosen so blkback's storage opener (split-drivers `blk/storage/storage-spec.ts`,
 * `openStorage`) finds the storage the user asked for:
 *
 * ```
 * disk                          type    params               mode   storage blkback opens
 * file image, rw                "file"  <absolute path>      "w"    FileStorage (real file I/O)
 * file image, read-only         "file"  <absolute path>      "r"    FileStorage, read-only
 * overlay over an image         "cow"   <absolute path>      "w"    CowStorage in memory over the
 *                                                                   image opened read-only: the
 *                                                                   image file is never written
 * memory                        "phy"   "memory:<bytes>"     "w"|"r" MemoryStorage (sparse)
 * ```
 *
 * dom0 serves them with blkback (`serveBlkback`, host-session.ts); the built-in "shell" kernel
 * brings blkfront up for every vbd it is given (guest-shell.ts).
 */
import { vbdDevid, type VbdSpec } from "@pvkit/toolstack";
import type { DiskConfig } from "../config/schema.js";

/** The vbd device spec of a disk (see the module comment). */
export function vbdSpecOf(d: DiskConfig): VbdSpec {
  const mode = d.access;
  if (d.kind === "memory")
    return { kind: "vbd", vdev: d.vdev, type: "phy", params: `memory:${d.bytes}`, mode };
  return {
    kind: "vbd",
    vdev: d.vdev,
    type: d.overlay ? "cow" : "file",
    params: d.path!,
    mode: d.overlay ? "w" : mode,
  };
}

/** The xenbus devid of a disk (xen-vbd-interface(7): xvda is 51712). */
export function diskDevid(d: DiskConfig): number {
  return vbdDevid(d.vdev);
}

/** One line about a disk: its vdev and devid, what backs it, and its access. */
export function describeDisk(d: DiskConfig): string {
  const what =
    d.kind === "memory"
      ? `memory ${d.bytes} bytes`
      : d.overlay
        ? `overlay (copy-on-write in memory) over file ${d.path}, which stays unmodified`
        : `file ${d.path}`;
  const access = d.overlay ? "read-write" : d.access === "w" ? "read-write" : "read-only";
  return `disk ${d.vdev} (vbd/${diskDevid(d)}): ${what} (${access}), served by blkback in dom0`;
}

/** Bytes as "4 MiB" / "1.5 KiB" / "512 B". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}
