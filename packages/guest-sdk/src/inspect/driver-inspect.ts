/**
 * A read-only window on the driver layer for test tooling (the toolstack's sanitizer): rings
 * and xenbus devices announce themselves here as they are made, change state, and let go of
 * their resources; a ring end also reports each entry it produces and consumes, as values, at
 * the moment it does so (so tooling never has to guess a request from a shared slot the
 * response may since have overwritten), and each push of its producer index. Nothing here changes what a
 * driver does; with no listener attached each announcement costs one size check.
 *
 * ```ts
 * const off = driverInspect.listen({ ring: (r) => rings.push(r), deviceState: (d, from, to) => log(d.nodename, to) });
 * // ... run drivers ...
 * off();
 * ```
 */
import type { Page } from "@pvkit/hypervisor-sim";
import type { RingSpec } from "../ring/ring-codec.js";
import type { XenbusDevice } from "../xenbus/driver/xenbus-device.js";

/** One ring end as made by `FrontRing.init/attach` or `BackRing.attach`. */
export interface InspectedRing {
  /** "front" for a FrontRing (private `reqProdPvt`, `rspCons`), "back" for a BackRing (`rspProdPvt`, `reqCons`). */
  readonly side: "front" | "back";
  /** The FrontRing or BackRing itself: read its private indices and `halted`, never drive it. */
  readonly ring: InspectedRingEnd;
  /** Its pages, in ring order. */
  readonly pages: readonly Page[];
  /** `pages[0].mfn` when it was made (pages die with their mapping; the number is kept). */
  readonly mfn: number;
  readonly spec: RingSpec<unknown, unknown>;
  /** The ring's `name` option, if any. */
  readonly name: string | undefined;
}

/** What tooling may read of a ring end (both FrontRing and BackRing have these). */
export interface InspectedRingEnd {
  readonly halted: Error | undefined;
  readonly size: number;
  /** FrontRing only. */
  readonly rspCons?: number;
  readonly reqProdPvt?: number;
  /** BackRing only. */
  readonly reqCons?: number;
  readonly rspProdPvt?: number;
}

/** Callbacks a listener may give; all optional. */
export interface DriverInspectListener {
  /** A ring end was made. */
  ring?(r: InspectedRing): void;
  /** The bus made a device (probe). */
  device?(dev: XenbusDevice): void;
  /** `switchState` wrote a new state for this end (`from` is the cached old one). */
  deviceState?(dev: XenbusDevice, from: number, to: number): void;
  /** The framework released everything the device owned (disconnect, unplug, death, reconnect). */
  deviceReleased?(dev: XenbusDevice): void;
  /**
   * A FrontRing (`end`, as announced by `ring`) wrote request `req` into slot `idx`
   * (`RING_GET_REQUEST(r, r->req_prod_pvt++)`), before it is published. `req` is the driver's
   * own value: read it, never keep it past the call unless copied.
   */
  requestProduced?(end: InspectedRingEnd, idx: number, req: unknown): void;
  /**
   * A FrontRing took response `rsp` from slot `idx` (after its `rsp_prod` checks, decode and
   * validate): the response exactly as the frontend sees it.
   */
  responseConsumed?(end: InspectedRingEnd, idx: number, rsp: unknown): void;
  /**
   * A BackRing took request `req` from slot `idx` (`RING_COPY_REQUEST`, req_cons++), as decoded
   * from its private copy; `undefined` when that decode threw (the driver still got the entry).
   */
  requestConsumed?(end: InspectedRingEnd, idx: number, req: unknown): void;
  /**
   * A BackRing wrote response `rsp` into slot `idx` (`RING_GET_RESPONSE(r, r->rsp_prod_pvt++)`),
   * before it is published.
   */
  responseProduced?(end: InspectedRingEnd, idx: number, rsp: unknown): void;
  /**
   * Either end published its producer index (`RING_PUSH_REQUESTS` / `RING_PUSH_RESPONSES`, with
   * or without the notify check): every entry before `prod` is now visible to the peer.
   */
  pushed?(end: InspectedRingEnd, prod: number): void;
}

const listeners = new Set<DriverInspectListener>();

/** The registry. */
export const driverInspect: {
  /** Adds a listener; returns the function removing it. */
  listen(l: DriverInspectListener): () => void;
  /** Whether anyone listens (producers skip building announcements otherwise). */
  readonly active: boolean;
  // The announcements below are made by this package's rings and xenbus devices only. They
  // are tagged @internal, so `stripInternal` leaves them out of the published .d.ts (a type
  // literal's members are stripped, an inferred object type's are not): tooling can listen,
  // never announce.
  /** @internal */
  ring(
    side: "front" | "back",
    ring: InspectedRingEnd,
    pages: readonly Page[],
    spec: RingSpec<unknown, unknown>,
    name: string | undefined,
  ): void;
  /** @internal */
  requestProduced(end: InspectedRingEnd, idx: number, req: unknown): void;
  /** @internal */
  responseConsumed(end: InspectedRingEnd, idx: number, rsp: unknown): void;
  /** @internal */
  requestConsumed(end: InspectedRingEnd, idx: number, req: unknown): void;
  /** @internal */
  responseProduced(end: InspectedRingEnd, idx: number, rsp: unknown): void;
  /** @internal */
  pushed(end: InspectedRingEnd, prod: number): void;
  /** @internal */
  device(dev: XenbusDevice): void;
  /** @internal */
  deviceState(dev: XenbusDevice, from: number, to: number): void;
  /** @internal */
  deviceReleased(dev: XenbusDevice): void;
} = {
  /** Adds a listener; returns the function removing it. */
  listen(l: DriverInspectListener): () => void {
    listeners.add(l);
    return () => void listeners.delete(l);
  },
  /** Whether anyone listens (producers skip building announcements otherwise). */
  get active(): boolean {
    return listeners.size > 0;
  },
  /** @internal */
  ring(
    side: "front" | "back",
    ring: InspectedRingEnd,
    pages: readonly Page[],
    spec: RingSpec<unknown, unknown>,
    name: string | undefined,
  ): void {
    if (listeners.size === 0) return;
    const r: InspectedRing = { side, ring, pages, mfn: pages[0]!.mfn, spec, name };
    for (const l of listeners) l.ring?.(r);
  },
  /** @internal */
  requestProduced(end: InspectedRingEnd, idx: number, req: unknown): void {
    for (const l of listeners) l.requestProduced?.(end, idx, req);
  },
  /** @internal */
  responseConsumed(end: InspectedRingEnd, idx: number, rsp: unknown): void {
    for (const l of listeners) l.responseConsumed?.(end, idx, rsp);
  },
  /** @internal */
  requestConsumed(end: InspectedRingEnd, idx: number, req: unknown): void {
    for (const l of listeners) l.requestConsumed?.(end, idx, req);
  },
  /** @internal */
  responseProduced(end: InspectedRingEnd, idx: number, rsp: unknown): void {
    for (const l of listeners) l.responseProduced?.(end, idx, rsp);
  },
  /** @internal */
  pushed(end: InspectedRingEnd, prod: number): void {
    for (const l of listeners) l.pushed?.(end, prod);
  },
  /** @internal */
  device(dev: XenbusDevice): void {
    for (const l of listeners) l.device?.(dev);
  },
  /** @internal */
  deviceState(dev: XenbusDevice, from: number, to: number): void {
    for (const l of listeners) l.deviceState?.(dev, from, to);
  },
  /** @internal */
  deviceReleased(dev: XenbusDevice): void {
    for (const l of listeners) l.deviceReleased?.(dev);
  },
};
