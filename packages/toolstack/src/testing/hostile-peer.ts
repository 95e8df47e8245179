/**
 * Hostile-peer mode: one end of a device's shared ring lies. At seeded points (in virtual time or
 * at the n-th notification the impersonated end sends), the page is corrupted as that end could
 * corrupt it — its producer index pushed far ahead or behind, its event index garbage, a forged
 * entry with a garbage id, a garbage length, or all garbage — and the honest end is notified as
 * the impersonated end's `EVTCHNOP_send` would (event_channel.c: evtchn_send →
 * evtchn_port_set_pending on the bound remote port).
 *
 * Test-only facility: the bytes are written straight through the impersonated domain's own
 * mapping of the ring (the frontend's granted frame, or the backend's grant mapping found in its
 * maptrack), with `Physmap.writablePage`, as that domain's CPU would store them. No hypercall
 * and no guest code run; the real driver of the impersonated end keeps running beside the lies
 * (so the honest end also sees the real end's later, honest writes racing the forged ones).
 *
 * The ring is found as the sanitizer finds it (sanitizer/ring-view.ts): the frontend's
 * `ring-ref` / `ring-ref%u` keys and the frontend's grant table, the ports from `event-channel`.
 *
 * ```ts
 * const peer = hostilePeer(t.host, { frontDomid: dom.domid, type: "vbd", devid: 51712, impersonate: "backend", seed: 3, at: { notifications: [1, 8] } });
 * // ... I/O ...
 * peer.corruptions; // [{ kind: "prod-ahead", offset: 8, ... }]
 * peer.stop();
 * ```
 */
import { Rng, type RaiseTrace } from "@pvkit/hypervisor-sim";
import { XEN_PAGE_SIZE } from "@pvkit/hypervisor-sim/abi";
import { inspectDomain, injectEvent } from "@pvkit/hypervisor-sim/inspect";
import type { Host } from "../host/host.js";
import { type DeviceLink, newDeviceLink, resolveLink } from "./sanitizer/ring-view.js";
import { subSeed } from "./seed.js";
import { sanitizerOf } from "./sanitizer/sanitizer.js";

/** What a corruption does. `*-prod-*` and `event-garbage` act on the impersonated end's indices. */
export type CorruptionKind =
  | "prod-ahead"
  | "prod-behind"
  | "event-garbage"
  | "bad-id"
  | "bad-length"
  | "garbage-entry";

export const CORRUPTION_KINDS: readonly CorruptionKind[] = [
  "prod-ahead",
  "prod-behind",
  "event-garbage",
  "bad-id",
  "bad-length",
  "garbage-entry",
];

/** The ring's entry layout (defaults: blkif on x86_64, io/blkif.h). */
export interface RingLayout {
  /** Bytes per entry (the union of request and response). blkif: 112. */
  readonly entrySize: number;
  /** Offset of the first entry in the page (after `struct *_sring`'s header and pad). 64. */
  readonly entriesOffset: number;
  /** Entries in the ring (a power of two). Default: the largest that fits one page. */
  readonly size?: number;
  /** Offset of the u64 `id` in a request (blkif: 8) and in a response (blkif: 0). */
  readonly requestIdOffset: number;
  readonly responseIdOffset: number;
  /** A length-like u8 to make garbage: a request's `nr_segments` (blkif: 1), a response's `status` low byte (10). */
  readonly requestLengthOffset: number;
  readonly responseLengthOffset: number;
}

export const BLKIF_RING_LAYOUT: RingLayout = {
  entrySize: 112,
  entriesOffset: 64,
  requestIdOffset: 8,
  responseIdOffset: 0,
  requestLengthOffset: 1,
  responseLengthOffset: 10,
};

/** When corruptions happen: each at a seeded point in the range after the previous one. */
export type HostileSchedule =
  /** Virtual-time range in ns. */
  | { readonly ns: readonly [min: number, max: number] }
  /** A range of the impersonated end's notifications to the honest end. */
  | { readonly notifications: readonly [min: number, max: number] };

export interface HostilePeerOptions {
  /** The device: the frontend's domain, the device type (`vbd`) and devid. */
  readonly frontDomid: number;
  readonly type: string;
  readonly devid: number;
  /** The backend's domain. Default 0. */
  readonly backDomid?: number;
  /** The lying end: `"backend"` attacks the frontend, `"frontend"` attacks the backend. */
  readonly impersonate: "frontend" | "backend";
  /** Seed of the schedule and the garbage. Required: outcomes are pinned per seed. */
  readonly seed: number;
  readonly at: HostileSchedule;
  /** Corruptions to make, then stop. Default 1. */
  readonly count?: number;
  /** Kinds to draw from (uniformly). Default all of {@link CORRUPTION_KINDS}. */
  readonly kinds?: readonly CorruptionKind[];
  readonly layout?: RingLayout;
  /**
   * The queue whose ring is attacked when the frontend published several
   * (`multi-queue-num-queues`, the keys under `queue-N/`). Default 0.
   */
  readonly queue?: number;
}

/** One corruption made. */
export interface Corruption {
  readonly kind: CorruptionKind;
  /** Virtual time, ns. */
  readonly t: number;
  /** The header field or entry byte offset written, in the first ring page. */
  readonly offset: number;
  /** The u32 written (index kinds), or the forged entry's slot. */
  readonly value: number;
}

export interface HostilePeer {
  readonly corruptions: readonly Corruption[];
  /** Points that came with no ring resolved yet (not connected): skipped, rescheduled. */
  readonly skipped: number;
  /** Cancels what is scheduled. Idempotent. */
  stop(): void;
}

/** The page of the first ring frame as `domid` maps it, writable. Throws when it is not mapped writable. */
function pageOf(
  host: Host,
  l: DeviceLink,
  side: "front" | "back",
): import("@pvkit/hypervisor-sim").Page | undefined {
  const r = l.ring!;
  const domid = side === "front" ? l.frontDomid : l.backDomid;
  const d = inspectDomain(host.hv, domid);
  if (d === undefined) return undefined;
  // Written through the impersonated domain's own memory, as that domain's code would.
  const memory = host.hv.guest(domid).memory;
  if (side === "front") return memory.writablePage(d.gnttab.entryFrame(r.refs[0]!));
  for (const [, m] of d.gnttab.maptrack.entriesDescending()) {
    if (m.domid === l.frontDomid && m.ref === r.refs[0] && m.hostGfn !== undefined)
      return memory.writablePage(m.hostGfn);
  }
  return undefined;
}

/**
 * Starts a hostile peer on the device (see the file header).
 * @throws RangeError for a bad schedule or count.
 */
export function hostilePeer(host: Host, o: HostilePeerOptions): HostilePeer {
  const [lo, hi] = "ns" in o.at ? o.at.ns : o.at.notifications;
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= ("ns" in o.at ? 0 : 1) && hi >= lo))
    throw new RangeError(`hostilePeer: bad schedule range [${lo}, ${hi}]`);
  const count = o.count ?? 1;
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`hostilePeer: count must be a positive integer, got ${count}`);
  const kinds = o.kinds ?? CORRUPTION_KINDS;
  if (kinds.length === 0) throw new RangeError("hostilePeer: no kinds");
  const layout = o.layout ?? BLKIF_RING_LAYOUT;
  const size =
    layout.size ??
    1 << Math.floor(Math.log2((XEN_PAGE_SIZE - layout.entriesOffset) / layout.entrySize));
  const rng = new Rng(subSeed(o.seed, "hostile-peer"));
  const draw = (a: number, b: number): number => a + (rng.nextU32() % (b - a + 1));
  const backDomid = o.backDomid ?? 0;
  const frontPath = `/local/domain/${o.frontDomid}/device/${o.type}/${o.devid}`;
  const link: DeviceLink = newDeviceLink(
    o.type,
    frontPath,
    `/local/domain/${backDomid}/backend/${o.type}/${o.frontDomid}/${o.devid}`,
    o.frontDomid,
    backDomid,
  );
  const side = o.impersonate === "backend" ? "back" : "front";
  const corruptions: Corruption[] = [];
  let skipped = 0;
  let stopped = false;
  let timer: { cancel(): void } | undefined;
  let countdown = 0;

  const resolve = (): void => {
    // A multi-queue frontend keeps each ring's keys under queue-N/ (blkif.h: multi-queue-num-queues).
    const q = `${frontPath}/queue-${o.queue ?? 0}`;
    const mq = host.xenstored.inspect(`${q}/event-channel`) !== undefined;
    (link as { frontPath: string }).frontPath = mq ? q : frontPath;
    resolveLink(host, link);
  };
  const corrupt = (): boolean => {
    resolve();
    if (link.ring === undefined || link.frontPort === undefined || link.backPort === undefined)
      return false;
    let page;
    try {
      page = pageOf(host, link, side);
    } catch {
      page = undefined; // unmapped meanwhile (a reconnect): nothing to write through
    }
    if (page === undefined) return false;
    const kind = kinds[rng.nextU32() % kinds.length]!;
    // The impersonated end's own fields: a backend produces responses (rsp_prod at 8) and
    // consumes requests (req_event at 4); a frontend produces requests (req_prod at 0) and
    // consumes responses (rsp_event at 12). io/ring.h: struct *_sring.
    const prodOff = side === "back" ? 8 : 0;
    const eventOff = side === "back" ? 4 : 12;
    const prod = page.getU32(prodOff);
    let offset: number;
    let value: number;
    if (kind === "prod-ahead" || kind === "prod-behind") {
      const by = draw(size + 1, 0x7fff_ffff);
      value = (kind === "prod-ahead" ? prod + by : prod - by) >>> 0;
      offset = prodOff;
      page.setU32(offset, value);
    } else if (kind === "event-garbage") {
      value = rng.nextU32();
      offset = eventOff;
      page.setU32(offset, value);
    } else {
      // A forged entry in the next slot, then the producer index pushed past it.
      const slot = prod & (size - 1);
      const at = layout.entriesOffset + slot * layout.entrySize;
      if (at + layout.entrySize > XEN_PAGE_SIZE) return false;
      const idOff = side === "back" ? layout.responseIdOffset : layout.requestIdOffset;
      const lenOff = side === "back" ? layout.responseLengthOffset : layout.requestLengthOffset;
      if (kind === "garbage-entry")
        for (let i = 0; i < layout.entrySize; i += 4) page.setU32(at + i, rng.nextU32());
      else if (kind === "bad-id") {
        page.setU32(at + idOff, rng.nextU32());
        page.setU32(at + idOff + 4, rng.nextU32());
      } else page.setU8(at + lenOff, 0x80 | (rng.nextU32() % 0x80));
      offset = at;
      value = slot;
      page.setU32(prodOff, (prod + 1) >>> 0);
    }
    corruptions.push({ kind, t: host.hv.scheduler.now, offset, value });
    // The sanitizer blames what this lie provokes on the lying end (ring-halted names it).
    sanitizerOf(host)?.noteLie(
      frontPath,
      o.impersonate,
      `${kind} at offset ${offset}, t=${host.hv.scheduler.now} ns`,
    );
    // The lying end's notify: EVTCHNOP_send raises the honest end's port.
    const honest = side === "back" ? link.frontDomid : link.backDomid;
    const port = side === "back" ? link.frontPort : link.backPort;
    injectEvent(host.hv, honest, port);
    return true;
  };

  const done = (): boolean => stopped || corruptions.length >= count;
  const fire = (): void => {
    if (done()) return;
    if (!corrupt()) skipped++;
    arm();
  };
  const arm = (): void => {
    if (done()) return;
    if ("ns" in o.at) timer = host.hv.scheduler.at(host.hv.scheduler.now + draw(lo, hi), fire);
    else countdown = draw(lo, hi);
  };
  const bus = host.hv.trace;
  let onRaise: ((e: RaiseTrace) => void) | undefined;
  if ("notifications" in o.at) {
    // A raise of the honest end's port is one notification from the impersonated end.
    onRaise = (e: RaiseTrace): void => {
      if (done() || countdown === 0) return;
      const honestDom = side === "back" ? link.frontDomid : link.backDomid;
      if (e.domid !== honestDom) return;
      if (link.frontPort === undefined || link.backPort === undefined) resolve();
      if (e.port !== (side === "back" ? link.frontPort : link.backPort)) return;
      if (--countdown === 0) timer = host.hv.scheduler.defer(fire);
    };
    bus.on("raise", onRaise);
  }
  arm();
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    timer?.cancel();
    if (onRaise) bus.off("raise", onRaise);
  };
  return {
    corruptions,
    get skipped() {
      return skipped;
    },
    stop,
  };
}
