/**
 * The whole example on a host: blkback in dom0 serving a vbd whose backend keys name a raw
 * image file (`type` = "file", `params` = the path: blkback opens it with real asynchronous
 * file I/O, holding the virtual clock while a read or write is in flight), a domU running
 * blkfront and the pattern program (domu.ts), then removal as xl does it (`online` = 0,
 * Closing, Closed), blkback closing the image, and dom0's check of the file (dom0.ts).
 *
 * ```
 * domU: Blkfront ── ring + grants ──▶ dom0: blkback ── FileHandle ──▶ disk.img
 *       write pattern, flush, read back, verify           then dom0 reads disk.img and checks it
 * ```
 */
import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { type Host, LocalXenbusTransport, detachDevice } from "@pvkit/toolstack";
import { Blkfront, serveBlkback } from "@pvkit/split-drivers";
import { type ImageReport, checkImage } from "./dom0.js";
import { type GuestReport, writeAndVerify } from "./domu.js";
import { REGIONS, type Region } from "./pattern.js";

/** xvda's devid (xen-vbd-interface(7): 202 << 8). */
export const XVDA = 51712;

/** Options of {@link runBlkPattern}. */
export interface BlkPatternOptions {
  /** The raw image file (it must exist; its size is the disk's). */
  readonly image: string;
  /** What the guest writes. Default {@link REGIONS}. */
  readonly regions?: readonly Region[];
}

/** What the run found, on both sides. */
export interface BlkPatternReport {
  readonly domid: number;
  readonly guest: GuestReport;
  readonly image: ImageReport;
  /** How the unplug ended ("closed" when the backend reached Closed). */
  readonly unplug: string;
  /** Driver errors reported by the guest's and dom0's buses (none expected). */
  readonly errors: readonly string[];
}

/** Runs the example on `host`; see the file header. The domain is left for the caller to destroy. */
export async function runBlkPattern(
  host: Host,
  opts: BlkPatternOptions,
): Promise<BlkPatternReport> {
  const regions = opts.regions ?? REGIONS;
  const xs = LocalXenbusTransport.open(host);
  const blkback = serveBlkback(host, { xs });
  let closed = false;
  try {
    let started!: (r: { bus: XenbusBus; report: Promise<GuestReport> }) => void;
    const guest = new Promise<{ bus: XenbusBus; report: Promise<GuestReport> }>(
      (r) => (started = r),
    );
    const dom = await host.createDomain({
      name: "blk-pattern",
      memory: 16,
      devices: [{ kind: "vbd", vdev: "xvda", type: "file", params: opts.image, mode: "w" }],
      main: (ctx) => {
        const bus = new XenbusBus(
          driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }),
        );
        const blk = Blkfront.register(bus);
        started({ bus, report: blk.disk(XVDA).then((disk) => writeAndVerify(disk, regions)) });
      },
    });
    const { bus, report } = await host.until(guest, "the guest starting");
    const g = await host.until(report, "the guest writing and verifying the pattern");
    const removal = await host.until(detachDevice(host, dom.domid, "vbd", XVDA), "unplugging xvda");
    await host.until(bus.close(), "the guest's bus closing");
    const errors = [...bus.errors, ...blkback.bus.errors].map((e) => String(e));
    closed = true;
    await host.until(blkback.close(), "blkback closing the image");
    const image = await checkImage(opts.image, regions);
    return { domid: dom.domid, guest: g, image, unplug: removal.outcome, errors };
  } finally {
    if (!closed) await host.until(blkback.close(), "blkback closing").catch(() => undefined);
    xs.close();
  }
}
