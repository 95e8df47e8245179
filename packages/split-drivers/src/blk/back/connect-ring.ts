/**
 * What blkback reads from the frontend when it connects (Linux xen-blkback/xenbus.c
 * `connect_ring` and `read_per_ring_refs`), in Linux's order, each failure fatal with Linux's
 * message:
 *
 * ```
 * protocol                 "%63s": x86_64-abi | x86_32-abi; absent -> x86_32-abi
 *                          (BLKIF_PROTOCOL_DEFAULT on x86); else  ENOSYS "unknown fe protocol %s"
 * feature-persistent       read only if the backend offers it; default 0
 * multi-queue-num-queues   default 1; 0 or > max     ENOSYS "guest requested %u queues, exceeding the maximum of %u."
 * ring-page-order          default 0; > max          EINVAL "requested ring page order %d exceed max:%d"
 * per ring (the top-level directory for one queue, queue-<n>/ for several):
 *   event-channel          "%u"                      EINVAL "reading %s/event-channel"
 *   ring-ref<i>, i < 2^order; with one page a missing ring-ref0 falls back to ring-ref
 *                                                    EINVAL "reading %s/ring-ref<i>" / "reading %s/ring-ref"
 * ```
 */
import { XenError, type XenbusDevice } from "@pvkit/guest-sdk";
import { XEN_ERRNO, type XenErrnoName } from "@pvkit/hypervisor-sim/abi";
import { type BlkifProtocol, blkifProtocolOf } from "../blkif-protocol.js";

/** A fatal connect error: the device goes Closing with `"<errno> connect: <message>"` in its error node. */
export class BlkbackConnectError extends XenError {
  override readonly name: string = "BlkbackConnectError";
  constructor(errno: XenErrnoName, message: string) {
    super("blkback connect", -XEN_ERRNO[errno]);
    this.message = message;
  }
}

/** One ring to map. */
export interface RingPlan {
  /** The frontend directory its keys are in (absolute). */
  readonly dir: string;
  readonly refs: readonly number[];
  readonly eventChannel: number;
}

/** The connection the frontend asks for. */
export interface ConnectPlan {
  readonly protocol: BlkifProtocol;
  readonly persistent: boolean;
  readonly order: number;
  readonly rings: readonly RingPlan[];
}

/**
 * `xenbus_scanf(..., "%u")`: leading blanks, then decimal digits (mod 2^32, as the kernel's
 * conversion truncates); undefined when the node is absent or holds no number.
 */
export function scanUnsigned(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^\s*\+?(\d+)/.exec(v);
  if (m === null) return undefined;
  return Number(BigInt(m[1]!) % 4294967296n);
}

async function readUnsigned(dev: XenbusDevice, key: string, dflt: number): Promise<number> {
  return scanUnsigned(await dev.readOther(key)) ?? dflt;
}

/** Reads the frontend's keys; see the file header. @throws BlkbackConnectError */
export async function readConnectPlan(
  dev: XenbusDevice,
  limits: { maxQueues: number; maxOrder: number; persistent: boolean },
): Promise<ConnectPlan> {
  const node = await dev.readOther("protocol");
  const protocol = blkifProtocolOf(node);
  if (protocol === undefined)
    throw new BlkbackConnectError("ENOSYS", `unknown fe protocol ${node?.match(/\S+/)?.[0] ?? ""}`);
  const persistent = limits.persistent && (await readUnsigned(dev, "feature-persistent", 0)) !== 0;
  const queues = await readUnsigned(dev, "multi-queue-num-queues", 1);
  if (queues > limits.maxQueues || queues === 0) {
    throw new BlkbackConnectError(
      "ENOSYS",
      `guest requested ${queues} queues, exceeding the maximum of ${limits.maxQueues}.`,
    );
  }
  const order = await readUnsigned(dev, "ring-page-order", 0);
  if (order > limits.maxOrder)
    throw new BlkbackConnectError(
      "EINVAL",
      `requested ring page order ${order} exceed max:${limits.maxOrder}`,
    );
  const rings: RingPlan[] = [];
  for (let q = 0; q < queues; q++) {
    const rel = queues === 1 ? "" : `queue-${q}/`;
    rings.push(await readRing(dev, rel, 1 << order));
  }
  return { protocol, persistent, order, rings };
}

async function readRing(dev: XenbusDevice, rel: string, pages: number): Promise<RingPlan> {
  const dir = rel === "" ? dev.otherend : `${dev.otherend}/${rel.slice(0, -1)}`;
  const eventChannel = scanUnsigned(await dev.readOther(`${rel}event-channel`));
  if (eventChannel === undefined)
    throw new BlkbackConnectError("EINVAL", `reading ${dir}/event-channel`);
  const refs: number[] = [];
  for (let i = 0; i < pages; i++) {
    const r = scanUnsigned(await dev.readOther(`${rel}ring-ref${i}`));
    if (r !== undefined) {
      refs.push(r);
      continue;
    }
    if (pages !== 1) throw new BlkbackConnectError("EINVAL", `reading ${dir}/ring-ref${i}`);
    const single = scanUnsigned(await dev.readOther(`${rel}ring-ref`));
    if (single === undefined) throw new BlkbackConnectError("EINVAL", `reading ${dir}/ring-ref`);
    refs.push(single);
  }
  return { dir, refs, eventChannel };
}
