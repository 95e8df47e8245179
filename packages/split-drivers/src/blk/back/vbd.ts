/**
 * The virtual block device behind one blkback device (Linux `struct xen_vbd`): the storage, the
 * read-only flag, the features offered, and the checks that need the disk — `xen_vbd_translate`
 * (a write to a read-only vbd; a range past the end or wrapping) and the alignment of every
 * segment to the logical block size (`dispatch_rw_block_io`'s "Misaligned I/O request").
 * Sector numbers here count 512-byte units, as blkif does whatever `sector-size` is.
 */
import type { BlkifSegment } from "../blkif-request.js";
import type { Storage } from "../storage/storage.js";

/** Features the backend offers for one device (what it writes at connect). */
export interface VbdFeatures {
  /** `feature-flush-cache`. */
  flush: boolean;
  /** `feature-barrier`. */
  barrier: boolean;
  /** `feature-discard`. */
  discard: boolean;
  /** `discard-secure`. */
  secureDiscard: boolean;
}

/** Why a request was refused before any I/O (all answered BLKIF_RSP_ERROR). */
export type VbdRefusal =
  | { readonly reason: "read-only"; readonly message: string }
  | { readonly reason: "out-of-range"; readonly message: string }
  | { readonly reason: "misaligned"; readonly message: string };

/** See the file header. */
export class Vbd {
  readonly storage: Storage;
  readonly readOnly: boolean;
  readonly features: VbdFeatures;
  /** `info`'s VDISK_CDROM / VDISK_REMOVABLE bits (VDISK_READONLY comes from `readOnly`). */
  readonly type: number;
  readonly handle: number;

  constructor(init: {
    storage: Storage;
    readOnly: boolean;
    features: VbdFeatures;
    type: number;
    handle: number;
  }) {
    this.storage = init.storage;
    this.readOnly = init.readOnly || init.storage.readOnly;
    this.features = init.features;
    this.type = init.type;
    this.handle = init.handle;
  }

  /** `vbd_sz`: the size in 512-byte sectors (the `sectors` key). */
  get sectors512(): number {
    return (this.storage.sectors * this.storage.sectorSize) / 512;
  }

  /**
   * `xen_vbd_translate`: refuses a non-read operation on a read-only vbd, and (for a non-empty
   * range) one whose end wraps or lies past the disk.
   */
  translate(write: boolean, sector: number, nrSects: number): VbdRefusal | undefined {
    const what = write ? "write" : "read";
    if (write && this.readOnly)
      return {
        reason: "read-only",
        message: `access denied: ${what} of [${sector},${sector + nrSects}] on read-only dev=${hex(this.handle)}`,
      };
    if (nrSects > 0) {
      const end = sector + nrSects;
      if (!Number.isSafeInteger(end) || end > this.sectors512) {
        return {
          reason: "out-of-range",
          message: `access denied: ${what} of [${sector},${end}] on dev=${hex(this.handle)} (${this.sectors512} sectors)`,
        };
      }
    }
    return undefined;
  }

  /**
   * Every segment's start sector and length must be multiples of the logical block size
   * (Linux checks `(sector_number | nsec) & (logical_block_size / 512 - 1)` per segment).
   */
  checkAlignment(sector: number, segments: readonly BlkifSegment[]): VbdRefusal | undefined {
    const per = this.storage.sectorSize / 512;
    if (per === 1) return undefined;
    const bad =
      sector % per !== 0 || segments.some((s) => (s.last_sect - s.first_sect + 1) % per !== 0);
    return bad
      ? {
          reason: "misaligned",
          message: `Misaligned I/O request (sector ${sector}, ${this.storage.sectorSize}-byte sectors)`,
        }
      : undefined;
  }

  /** A discard's range check (`dispatch_discard_io` translates it as a write) plus alignment. */
  checkDiscard(sector: number, nrSectors: number): VbdRefusal | undefined {
    const r = this.translate(true, sector, nrSectors);
    if (r !== undefined) return r;
    const per = this.storage.sectorSize / 512;
    if (sector % per !== 0 || nrSectors % per !== 0)
      return {
        reason: "misaligned",
        message: `Misaligned discard (sector ${sector}, ${nrSectors} sectors)`,
      };
    return undefined;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(4, "0");
}
