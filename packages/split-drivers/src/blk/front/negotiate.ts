/**
 * blkfront's side of the `io/blkif.h` negotiation, key by key as Linux's xen-blkfront.c reads
 * them:
 *
 * At the backend's InitWait (`talk_to_blkback`, `negotiate_mq`):
 * - `max-ring-page-order` (default 0) → ring order = min(our limit, offer);
 * - `multi-queue-max-queues` (default 1) → queues = min(offer, our limit), at least 1.
 *
 * At the backend's Connected (`blkfront_connect`, `blkfront_gather_backend_features`,
 * `blkfront_setup_discard`):
 * - `sectors`, `info`, `sector-size`: required; absent or unparsable is fatal, "reading backend
 *   fields at %s" (`xenbus_gather`);
 * - `physical-sector-size` (default `sector-size`);
 * - `feature-barrier` (0) gives flush + FUA through BLKIF_OP_WRITE_BARRIER; `feature-flush-cache`
 *   (0) wins over it: BLKIF_OP_FLUSH_DISKCACHE, no FUA;
 * - `feature-discard` (0), then `discard-granularity` (0: the physical sector size is used),
 *   `discard-alignment` (0), `discard-secure` (0);
 * - `feature-persistent` (0): used only if we advertised it too;
 * - `feature-max-indirect-segments` (0) → min(offer, our limit); 11 or less means no indirect.
 *
 * Optional keys are read as `xenbus_read_unsigned` reads them: `%u` scanf, the default when the
 * node is absent or does not start with a number.
 */
import { VDISK } from "@pvkit/hypervisor-sim/abi";
import { XenbusDeviceError, type XenbusDevice } from "@pvkit/guest-sdk";

/** Linux's `xen_blkif_max_segments` default: the largest indirect request blkfront builds. */
export const BLKFRONT_DEFAULT_MAX_INDIRECT_SEGMENTS = 32;
/** Linux's `xen_blkif_max_queues` ceiling. */
export const BLKFRONT_DEFAULT_MAX_QUEUES = 4;

/** The frontend's own limits (Linux's module parameters). */
export interface BlkfrontLimits {
  /** `max_ring_page_order`: 0..4. Default 0 (Linux's default: one-page rings). */
  readonly maxRingPageOrder?: number;
  /** `max_queues`. Default min(4, the guest's vCPUs), as Linux. */
  readonly maxQueues?: number;
  /** `max_indirect_segments`: 12..4096 enables indirect requests. Default 32. */
  readonly maxIndirectSegments?: number;
  /** `feature_persistent`: advertise persistent grants. Default true. */
  readonly persistent?: boolean;
}

/** How flushes reach the backend. */
export type BlkfrontFlushMode = "flush-cache" | "barrier" | "none";

/** What the backend offered at Connected, after our limits were applied. */
export interface BlkfrontDiskInfo {
  /** `sectors`: the size in 512-byte units. */
  readonly sectors: number;
  /** `info`: VDISK_* bits. */
  readonly info: number;
  /** `sector-size`: the logical sector size in bytes. */
  readonly sectorSize: number;
  /** `physical-sector-size`. */
  readonly physicalSectorSize: number;
  readonly readOnly: boolean;
  readonly cdrom: boolean;
  readonly removable: boolean;
  readonly flush: BlkfrontFlushMode;
  /** Barrier-backed flushes also give FUA (Linux `feature_fua`). */
  readonly fua: boolean;
  /** Discard parameters, or undefined when `feature-discard` is 0. Bytes. */
  readonly discard:
    | { readonly granularity: number; readonly alignment: number; readonly secure: boolean }
    | undefined;
  readonly persistent: boolean;
  /** Segments per indirect request, or 0 for none. */
  readonly maxIndirectSegments: number;
}

/**
 * `xenbus_read_unsigned`: the other end's key scanned with `%u`, `dflt` when absent or when it
 * does not start with a number. As with C's `%u`, a leading `-` wraps modulo 2^32.
 */
export async function readUnsigned(dev: XenbusDevice, key: string, dflt: number): Promise<number> {
  const v = await dev.readOther(key);
  return v === undefined ? dflt : (scanUnsigned(v) ?? dflt);
}

/** `sscanf(v, "%u")`, or undefined when nothing matches. */
export function scanUnsigned(v: string): number | undefined {
  const m = /^\s*([+-]?)(\d+)/.exec(v);
  if (m === null) return undefined;
  const n = Number(BigInt(m[2]!) & 0xffff_ffffn);
  return m[1] === "-" ? (2 ** 32 - n) % 2 ** 32 : n;
}

/** `%llu` / `%lu`: like scanUnsigned, 64-bit (exact below 2^53). */
function scanU64(v: string): number | undefined {
  const m = /^\s*(\d+)/.exec(v);
  return m === null ? undefined : Number(BigInt(m[1]!) & 0xffff_ffff_ffff_ffffn);
}

/** The transport chosen at InitWait. */
export interface BlkfrontTransport {
  readonly order: number;
  readonly queues: number;
}

/** `talk_to_blkback` + `negotiate_mq`: ring order and number of queues. */
export async function chooseTransport(
  dev: XenbusDevice,
  limits: BlkfrontLimits,
): Promise<BlkfrontTransport> {
  const maxOrder = await readUnsigned(dev, "max-ring-page-order", 0);
  const order = Math.min(limits.maxRingPageOrder ?? 0, maxOrder);
  const backendQueues = await readUnsigned(dev, "multi-queue-max-queues", 1);
  const ownQueues =
    limits.maxQueues ?? Math.min(BLKFRONT_DEFAULT_MAX_QUEUES, dev.env.guest.nrVcpus);
  const queues = Math.max(1, Math.min(backendQueues, ownQueues));
  return { order, queues };
}

const isPow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/**
 * `blkfront_connect`'s reads. A missing or unparsable `sectors` / `info` / `sector-size` is
 * fatal with Linux's "reading backend fields at <backend>"; a sector size Linux's block layer
 * would refuse (not a power of two in 512..4096, a physical size not a power-of-two multiple of
 * it) is fatal as the gendisk set-up failing: "xlvbd_add at <backend>".
 * @throws XenbusDeviceError (the framework makes it `xenbus_dev_fatal`).
 */
export async function readDiskInfo(
  dev: XenbusDevice,
  limits: BlkfrontLimits,
): Promise<BlkfrontDiskInfo> {
  const raw = await Promise.all(["sectors", "info", "sector-size"].map((k) => dev.readOther(k)));
  const [sectors, info, sectorSize] = [
    raw[0] === undefined ? undefined : scanU64(raw[0]),
    raw[1] === undefined ? undefined : scanUnsigned(raw[1]),
    raw[2] === undefined ? undefined : scanU64(raw[2]),
  ];
  if (sectors === undefined || info === undefined || sectorSize === undefined) {
    const absent = raw.some((v) => v === undefined);
    throw new XenbusDeviceError(
      absent ? "missing-key" : "bad-key",
      absent ? "ENOENT" : "EINVAL",
      dev.nodename,
      `reading backend fields at ${dev.otherend}`,
    );
  }
  const physicalSectorSize = await readUnsigned(dev, "physical-sector-size", sectorSize);
  if (
    !isPow2(sectorSize) ||
    sectorSize < 512 ||
    sectorSize > 4096 ||
    !isPow2(physicalSectorSize) ||
    physicalSectorSize < sectorSize
  ) {
    throw new XenbusDeviceError("bad-key", "EINVAL", dev.nodename, `xlvbd_add at ${dev.otherend}`);
  }
  let flush: BlkfrontFlushMode = "none";
  let fua = false;
  if ((await readUnsigned(dev, "feature-barrier", 0)) !== 0) [flush, fua] = ["barrier", true];
  if ((await readUnsigned(dev, "feature-flush-cache", 0)) !== 0)
    [flush, fua] = ["flush-cache", false];
  let discard: BlkfrontDiskInfo["discard"];
  if ((await readUnsigned(dev, "feature-discard", 0)) !== 0) {
    const g = await readUnsigned(dev, "discard-granularity", 0);
    discard = {
      granularity: g === 0 ? physicalSectorSize : g,
      alignment: await readUnsigned(dev, "discard-alignment", 0),
      secure: (await readUnsigned(dev, "discard-secure", 0)) !== 0,
    };
  }
  const persistent =
    (limits.persistent ?? true) && (await readUnsigned(dev, "feature-persistent", 0)) !== 0;
  let indirect = await readUnsigned(dev, "feature-max-indirect-segments", 0);
  indirect = Math.min(
    indirect,
    limits.maxIndirectSegments ?? BLKFRONT_DEFAULT_MAX_INDIRECT_SEGMENTS,
    4096,
  );
  if (indirect <= 11) indirect = 0;
  const mode = await dev.readOther("mode");
  return {
    sectors,
    info,
    sectorSize,
    physicalSectorSize,
    readOnly: (info & VDISK.VDISK_READONLY) !== 0 || mode === "r",
    cdrom: (info & VDISK.VDISK_CDROM) !== 0,
    removable: (info & VDISK.VDISK_REMOVABLE) !== 0,
    flush,
    fua,
    discard,
    persistent,
    maxIndirectSegments: indirect,
  };
}
