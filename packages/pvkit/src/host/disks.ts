/**
 * A config's disks as vbd devices: the backend keys libxl writes (`type`, `params`, `mode`),
 * chosen so blkback's storage opener (split-drivers `blk/storage/storage-spec.ts`) finds the
 * storage the user asked for:
 *
 * ```
 * disk                          type    params               mode
 * file image, rw                "file"  <absolute path>      "w"
 * file image, read-only         "file"  <absolute path>      "r"
 * overlay over an image         "cow"   <absolute path>      "w"   (image opened read-only)
 * memory                        "phy"   "memory:<bytes>"     "w" | "r"
 * ```
 *
 * blkback (the dom0 backend) is not in `@pvkit/split-drivers` yet, so `pvkit up` validates
 * disks and reports them as not served: no vbd device is created, since a frontend would wait on
 * a backend that never comes.
 */
import type { VbdSpec } from "@pvkit/toolstack";
import type { DiskConfig } from "../config/schema.js";

/** Whether this build can serve disks (blkback has landed). */
export const DISKS_SERVED = false;

/** Why disks are accepted but not served, in one line. */
export const DISKS_NOT_SERVED_REASON = "not served yet: pvkit's blkback (the dom0 disk backend) has not landed";

/** The vbd device spec of a disk (see the module comment). */
export function vbdSpecOf(d: DiskConfig): VbdSpec {
  const mode = d.access;
  if (d.kind === "memory") return { kind: "vbd", vdev: d.vdev, type: "phy", params: `memory:${d.bytes}`, mode };
  return { kind: "vbd", vdev: d.vdev, type: d.overlay ? "cow" : "file", params: d.path!, mode: d.overlay ? "w" : mode };
}

/** One line about a disk: what it is and whether it is served. */
export function describeDisk(d: DiskConfig): string {
  const what = d.kind === "memory" ? `memory ${d.bytes} bytes` : `${d.overlay ? "overlay over " : ""}file ${d.path}`;
  return `disk ${d.vdev}: ${what} (${d.access === "w" ? "read-write" : "read-only"})${DISKS_SERVED ? "" : ` — ${DISKS_NOT_SERVED_REASON}`}`;
}
