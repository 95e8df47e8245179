/**
 * A device's shared ring as the sanitizer sees it: the ring frames found through xenstore (the
 * frontend's `ring-ref` / `ring-page-order` + `ring-ref%u` keys, io/ring.h's publishing
 * convention) and the frontend's grant table, the two ports (`event-channel` and the peer it is
 * bound to), the ring ends the SDK announced (`driverInspect`) for the private indices, and the
 * shared header read straight from the frame (`struct *_sring`: req_prod, req_event, rsp_prod,
 * rsp_event at offsets 0, 4, 8, 12). Entries are not read here: request ids come from the
 * frontend's own ring operations (see the sanitizer).
 */
import { ECS } from "@pvkit/hypervisor-sim";
import { inspectDomain } from "@pvkit/hypervisor-sim/inspect";
import type { InspectedRing, XenbusDevice } from "@pvkit/guest-sdk";
import type { Host } from "../../host/host.js";
import { inspectInt } from "../../host/inspect-node.js";

/** The part of a machine frame read here (the simulator's Frame). */
export interface FrameView {
  readonly mfn: number;
  readonly dv: DataView;
  readonly bytes: Uint8Array;
}

/** The shared header. */
export interface SharedIndices {
  readonly reqProd: number;
  readonly reqEvent: number;
  readonly rspProd: number;
  readonly rspEvent: number;
}

/** Per producer side: notifications sent against the ring's event index. */
export interface NotifyCount {
  sends: number;
  needed: number;
  unneeded: number;
  /** Sends with the producer index unmoved since the previous send. */
  empty: number;
  /** The producer index at the previous send, or undefined before the first. */
  lastProd: number | undefined;
  /** Entries pushed over the counted sends. */
  pushed: number;
  reported: boolean;
}

/** One frontend/backend pair, keyed by the frontend's path. */
export interface DeviceLink {
  readonly type: string;
  readonly frontPath: string;
  readonly backPath: string;
  readonly frontDomid: number;
  readonly backDomid: number;
  front: XenbusDevice | undefined;
  back: XenbusDevice | undefined;
  frontReleased: boolean;
  backReleased: boolean;
  /** Resolved from xenstore; kept once found (the keys may be removed later). */
  ring: ResolvedRing | undefined;
  frontPort: number | undefined;
  backPort: number | undefined;
  readonly notify: { front: NotifyCount; back: NotifyCount };
  /**
   * "frontPort:backPort" once the backend's bind raise of that pair was seen (the bind sets the
   * new port pending: not a notification); undefined again when an end is released.
   */
  boundPorts: string | undefined;
}

/** The ring frames of a link. */
export interface ResolvedRing {
  readonly refs: readonly number[];
  readonly frames: readonly FrameView[];
  readonly mfn: number;
}

export function newNotifyCount(): NotifyCount {
  return {
    sends: 0,
    needed: 0,
    unneeded: 0,
    empty: 0,
    lastProd: undefined,
    pushed: 0,
    reported: false,
  };
}

/** A device's link before anything about its ring or ports is known. */
export function newDeviceLink(
  type: string,
  frontPath: string,
  backPath: string,
  frontDomid: number,
  backDomid: number,
): DeviceLink {
  return {
    type,
    frontPath,
    backPath,
    frontDomid,
    backDomid,
    front: undefined,
    back: undefined,
    frontReleased: false,
    backReleased: false,
    ring: undefined,
    frontPort: undefined,
    backPort: undefined,
    notify: { front: newNotifyCount(), back: newNotifyCount() },
    boundPorts: undefined,
  };
}

/**
 * Finds (or refreshes) the link's ring frames and ports from xenstore and the frontend's grant
 * table. A ring-ref that changed (reconnect) re-resolves; absent keys keep the last answer.
 */
export function resolveLink(host: Host, l: DeviceLink): void {
  const d = inspectDomain(host.hv, l.frontDomid);
  if (d === undefined) return;
  // A multi-queue device (blkif.h: multi-queue-num-queues, the ring keys under queue-N/): queue 0.
  const dir =
    inspectInt(host, `${l.frontPath}/multi-queue-num-queues`) !== undefined
      ? `${l.frontPath}/queue-0`
      : l.frontPath;
  const ring = queueRing(host, l, dir);
  if (ring !== undefined && (l.ring === undefined || l.ring.refs.join() !== ring.refs.join()))
    l.ring = ring;
  const port = inspectInt(host, `${dir}/event-channel`);
  if (port !== undefined && port < d.evtchn.validEvtchns) {
    l.frontPort = port;
    const t = d.evtchn;
    if (t.state[port] === ECS.INTERDOMAIN && t.remoteDom[port] === l.backDomid)
      l.backPort = t.remotePort[port];
  }
}

/** The ring whose keys (`ring-ref` or `ring-ref%u`) are in `dir` (the device's, or a queue-N/ of it). */
function queueRing(host: Host, l: DeviceLink, dir: string): ResolvedRing | undefined {
  const d = inspectDomain(host.hv, l.frontDomid);
  if (d === undefined) return undefined;
  const order = inspectInt(host, `${l.frontPath}/ring-page-order`) ?? 0;
  const refs: number[] = [];
  for (let i = 0; i < 1 << order; i++) {
    const r = inspectInt(host, order === 0 ? `${dir}/ring-ref` : `${dir}/ring-ref${i}`);
    if (r === undefined) return undefined;
    refs.push(r);
  }
  const gt = d.gnttab;
  const frames: FrameView[] = [];
  for (const ref of refs) {
    if (ref >= gt.nrEntries) return undefined;
    const f = d.physmap.frame(gt.entryFrame(ref));
    if (f === undefined) return undefined;
    frames.push(f);
  }
  return { refs, frames, mfn: frames[0]!.mfn };
}

/**
 * Every ring of the link's device with its queue: one (queue undefined) for a single-queue
 * device, `multi-queue-num-queues` of them otherwise (the keys under `queue-N/`).
 */
export function deviceRings(host: Host, l: DeviceLink): QueueRing[] {
  const n = inspectInt(host, `${l.frontPath}/multi-queue-num-queues`);
  const dirs =
    n === undefined
      ? [[undefined, l.frontPath] as const]
      : Array.from({ length: n }, (_, q) => [q, `${l.frontPath}/queue-${q}`] as const);
  const d = inspectDomain(host.hv, l.frontDomid);
  const out: QueueRing[] = [];
  for (const [queue, dir] of dirs) {
    const ring = queueRing(host, l, dir);
    if (ring === undefined || d === undefined) continue;
    const frontPort = inspectInt(host, `${dir}/event-channel`);
    const t = d.evtchn;
    const ok = frontPort !== undefined && frontPort < t.validEvtchns;
    const backPort =
      ok && t.state[frontPort] === ECS.INTERDOMAIN && t.remoteDom[frontPort] === l.backDomid
        ? t.remotePort[frontPort]
        : undefined;
    out.push({ queue, ring, frontPort: ok ? frontPort : undefined, backPort });
  }
  return out;
}

/** One ring of a device (see {@link deviceRings}). */
export interface QueueRing {
  readonly queue: number | undefined;
  readonly ring: ResolvedRing;
  readonly frontPort: number | undefined;
  readonly backPort: number | undefined;
}

/** The shared header of a resolved ring. */
export function sharedIndices(r: ResolvedRing): SharedIndices {
  const dv = r.frames[0]!.dv;
  return {
    reqProd: dv.getUint32(0, true),
    reqEvent: dv.getUint32(4, true),
    rspProd: dv.getUint32(8, true),
    rspEvent: dv.getUint32(12, true),
  };
}

/**
 * Whether `page` is this link's first ring page in this host: the frontend's own page at the
 * ring grant's frame, or the backend's mapping of that grant (its maptrack entry's host frame).
 * Frame numbers alone do not say: every host numbers its machine frames alike, and a ring end of
 * another host running in the same worker (a timed-out test's leftovers) announces itself too.
 */
export function isRingPage(
  host: Host,
  l: DeviceLink,
  side: "front" | "back",
  page: unknown,
): boolean {
  const r = l.ring;
  if (r === undefined) return false;
  const d = inspectDomain(host.hv, side === "front" ? l.frontDomid : l.backDomid);
  if (d === undefined) return false;
  const at = (gfn: number): unknown => {
    try {
      return d.physmap.page(gfn);
    } catch {
      return undefined; // a hole: nothing mapped there any more
    }
  };
  if (side === "front") return at(d.gnttab.entryFrame(r.refs[0]!)) === page;
  for (const [, m] of d.gnttab.maptrack.entriesDescending()) {
    if (
      m.domid === l.frontDomid &&
      m.ref === r.refs[0] &&
      m.hostGfn !== undefined &&
      at(m.hostGfn) === page
    )
      return true;
  }
  return false;
}

/** The newest announced ring end of `side` on this link's ring, in this host (see {@link isRingPage}). */
export function ringEnd(
  host: Host,
  rings: readonly InspectedRing[],
  l: DeviceLink,
  side: "front" | "back",
): InspectedRing | undefined {
  const r = l.ring;
  if (r === undefined) return undefined;
  for (let i = rings.length - 1; i >= 0; i--) {
    const x = rings[i]!;
    if (
      x.side === side &&
      x.mfn === r.mfn &&
      x.pages[0]!.alive &&
      isRingPage(host, l, side, x.pages[0])
    )
      return x;
  }
  return undefined;
}

/** `x` in the u32 window (lo, hi]. */
export function inWindow(x: number, lo: number, hi: number): boolean {
  return (x - lo - 1) >>> 0 < (hi - lo) >>> 0;
}
