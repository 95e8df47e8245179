/**
 * The sanitizer: attached to a test host, it watches the hypervisor's trace bus and the SDK's
 * driver registry (`driverInspect`) and reports, as {@link Finding}s, what makes drivers fail
 * silently — leaks at device disconnect, lost wake-ups the moment the host goes quiescent,
 * notification storms, ring protocol violations, unexpected xenbus states, devices that never
 * connect, teardown timeouts. `createTestHost` attaches one by default.
 *
 * Rules (io/ring.h): a producer must notify when the consumer's event index lies in
 * (old producer index, new producer index] (`RING_PUSH_*_AND_CHECK_NOTIFY`); a consumer that
 * goes idle re-arms its event index and checks again (`RING_FINAL_CHECK_FOR_*`). Work on a ring
 * with no event pending and the host quiescent therefore names the side that broke one rule.
 */
import type { RaiseTrace } from "@pvkit/hypervisor-sim";
import {
  GNTTAB_NR_RESERVED_ENTRIES,
  GTF,
  XEN_PAGE_SIZE,
  XenbusState,
  xenbusStateName,
} from "@pvkit/hypervisor-sim/abi";
import { inspectDomain, inspectDomains, inspectGuest } from "@pvkit/hypervisor-sim/inspect";
import { type InspectedRing, type XenbusDevice, driverInspect } from "@pvkit/guest-sdk";
import type { Host } from "../../host/host.js";
import type { LeakReport } from "../leak-check.js";
import { endLeaks, ownedBy } from "./disconnect-leaks.js";
import { type Finding, type FindingKind, type TracePosition, makeFinding } from "./findings.js";
import { ResponseIds } from "./response-ids.js";
import {
  type DeviceLink,
  deviceRings,
  inWindow,
  isRingPage,
  newDeviceLink,
  resolveLink,
  ringEnd,
  sharedIndices,
} from "./ring-view.js";

/** Options of the sanitizer (`TestHostOptions.sanitizer`). */
export interface SanitizerOptions {
  /** Unneeded notifications on one port that make a storm (and more than the needed ones). Default 4. */
  readonly stormThreshold?: number;
  /**
   * A protocol check of each response against its request (matched by `id`, as the frontend
   * produced and consumed them; see response-ids.ts): a message when they disagree (a short
   * copy, say), undefined when fine. `type` is the device type.
   */
  readonly checkResponse?: (
    type: string,
    request: unknown,
    response: unknown,
  ) => string | undefined;
}

const S = XenbusState;
const RINGS_KEPT = 4096;

const sanitizers = new WeakMap<Host, Sanitizer>();

/** The sanitizer attached to `host`, if any. */
export function sanitizerOf(host: Host): Sanitizer | undefined {
  return sanitizers.get(host);
}

export class Sanitizer {
  readonly host: Host;
  readonly #opts: SanitizerOptions;
  readonly #findings: Finding[] = [];
  readonly #keys = new Set<string>();
  readonly #expected = new Map<FindingKind, number>();
  readonly #links = new Map<string, DeviceLink>();
  readonly #rings: InspectedRing[] = [];
  /** Announced ring ends not halted yet, while their first page lives (see #haltCheck). */
  readonly #unhalted = new Set<InspectedRing>();
  /** Devices a hostile peer lied on, by frontend path: the lying end and its first lie. */
  readonly #lies = new Map<string, { liar: "frontend" | "backend"; what: string }>();
  readonly #ids: ResponseIds;
  readonly #pendingChecks = new Set<string>();
  readonly #off: (() => void)[] = [];
  #seq = -1;
  #closed = false;

  constructor(host: Host, opts: SanitizerOptions = {}) {
    this.host = host;
    this.#opts = opts;
    sanitizers.set(host, this);
    this.#ids = new ResponseIds(
      host,
      this.#links,
      (kind, domid, device, what, detail, key) =>
        this.report(kind, domid, device, what, detail, key),
      opts.checkResponse,
    );
    // Cheap events only (no "hypercall": its argument snapshots cost a structuredClone per
    // call). An EVTCHNOP_send on an interdomain port raises the peer's port
    // (event_channel.c: evtchn_send → evtchn_port_set_pending), so a raise on one end's port
    // is one notification from the other end.
    const bus = host.hv.trace;
    const seen = (e: { seq: number }): void => {
      this.#seq = e.seq;
      this.#haltCheck();
    };
    const onRaise = (e: RaiseTrace): void => {
      this.#seq = e.seq;
      this.#haltCheck();
      this.#onRaise(e.domid, e.port);
    };
    bus.on("raise", onRaise);
    for (const ev of ["upcall", "timer", "domain"] as const) bus.on(ev, seen);
    this.#off.push(() => {
      bus.off("raise", onRaise);
      for (const ev of ["upcall", "timer", "domain"] as const) bus.off(ev, seen);
    });
    this.#off.push(
      driverInspect.listen({
        ring: (r) => {
          if (this.#closed) return;
          this.#rings.push(r);
          this.#unhalted.add(r);
          if (this.#rings.length > RINGS_KEPT) this.#rings.shift();
          this.#ids.ring(r);
        },
        requestProduced: (end, _idx, req) => this.#ids.produced(end, req),
        responseConsumed: (end, idx, rsp) => this.#ids.consumed(end, idx, rsp),
        device: (dev) => this.#mine(dev) && this.#linkOf(dev),
        deviceState: (dev, from, to) => this.#mine(dev) && this.#onState(dev, from, to),
        deviceReleased: (dev) => {
          if (!this.#mine(dev)) return;
          const l = this.#linkOf(dev);
          if (dev.side === "frontend") l.frontReleased = true;
          else l.backReleased = true;
          this.#pendingChecks.add(`${dev.side}:${l.frontPath}`);
        },
      }),
    );
    this.#off.push(host.hv.scheduler.onStall(() => this.checkQuiescent()));
    const destroy = host.destroyDomain.bind(host);
    // The same promise for the same destroy (a second caller gets what the first got).
    const seenDestroys = new WeakMap<
      Promise<unknown>,
      Promise<Awaited<ReturnType<Host["destroyDomain"]>>>
    >();
    host.destroyDomain = (domid, o) => {
      const p = destroy(domid, o);
      let q = seenDestroys.get(p);
      if (q === undefined) {
        q = p.then((r) => {
          for (const t of r.timedOut) this.#teardownTimeout(domid, `${t.kind}/${t.devid}`);
          return r;
        });
        seenDestroys.set(p, q);
      }
      return q;
    };
  }

  /** Findings so far, expected ones included, in the order found. */
  get findings(): readonly Finding[] {
    return this.#findings;
  }

  /** Findings the test did not announce with {@link expect}. */
  get unexpected(): Finding[] {
    return this.#findings.filter((f) => !this.#expected.has(f.kind));
  }

  /**
   * Announces that the test provokes findings of `kind` on purpose: they do not fail it, and
   * teardown fails it if none (or fewer than `atLeast`) were found.
   */
  expect(kind: FindingKind, atLeast = 1): void {
    this.#expected.set(kind, atLeast);
  }

  /** Expected kinds not found often enough: "lost-wakeup (expected 1, found 0)". */
  missingExpected(): string[] {
    const out: string[] = [];
    for (const [kind, n] of this.#expected) {
      const found = this.#findings.filter((f) => f.kind === kind).length;
      if (found < n) out.push(`${kind} (expected at least ${n}, found ${found})`);
    }
    return out;
  }

  /** The current trace position. */
  position(): TracePosition {
    return { seq: this.#seq, t: this.host.hv.scheduler.now };
  }

  #mine(dev: XenbusDevice): boolean {
    return !this.#closed && inspectGuest(this.host.hv, dev.env.guest)?.domid === dev.env.domid;
  }

  #linkOf(dev: XenbusDevice): DeviceLink {
    const front = dev.side === "frontend";
    const abs = (domid: number, p: string): string =>
      p.startsWith("/") ? p : `/local/domain/${domid}/${p}`;
    const own = abs(dev.env.domid, dev.nodename);
    const other = abs(dev.otherendId, dev.otherend);
    const frontPath = front ? own : other;
    let l = this.#links.get(frontPath);
    // A frontend rebound to another backend (a restarted driver domain): a new pair.
    if (l !== undefined && front && (l.backPath !== other || l.backDomid !== dev.otherendId))
      l = undefined;
    if (l === undefined) {
      l = newDeviceLink(
        dev.type,
        frontPath,
        front ? other : own,
        front ? dev.env.domid : dev.otherendId,
        front ? dev.otherendId : dev.env.domid,
      );
      this.#links.set(frontPath, l);
    }
    // A new device object on either end (a reconnect) allocates and binds its port afresh, and
    // that bind raises again: resolve the ports anew.
    if (front ? l.front !== dev : l.back !== dev) {
      if (front) [l.front, l.frontReleased] = [dev, false];
      else [l.back, l.backReleased] = [dev, false];
      [l.boundPorts, l.frontPort, l.backPort] = [undefined, undefined, undefined];
    }
    return l;
  }

  #abs(dev: XenbusDevice): string {
    return dev.nodename.startsWith("/")
      ? dev.nodename
      : `/local/domain/${dev.env.domid}/${dev.nodename}`;
  }

  #name(domid: number): string {
    return (
      this.host.hv.domainById(domid)?.name ?? this.host.domain(domid)?.name ?? `domain-${domid}`
    );
  }

  /** Records a finding (once per `key`). */
  report(
    kind: FindingKind,
    domid: number,
    device: string | undefined,
    what: string,
    detail: string,
    key: string,
    hint?: string,
  ): void {
    if (this.#keys.has(key)) return;
    this.#keys.add(key);
    const f = makeFinding({
      kind,
      domid,
      domain: this.#name(domid),
      device,
      what,
      detail,
      at: this.position(),
      seed: this.host.options.chaos?.seed ?? this.host.options.seed,
      ...(hint !== undefined ? { hint } : {}),
    });
    this.#findings.push(f);
  }

  // ---- xenbus states --------------------------------------------------------------------

  #onState(dev: XenbusDevice, from: number, to: number): void {
    const l = this.#linkOf(dev);
    // A released end connecting again (the same device object: a backend restart, a rebind):
    // the old connection's leaks are checked now, then its ring and ports are watched afresh.
    const front = dev.side === "frontend";
    if (
      (front ? l.frontReleased : l.backReleased) &&
      to === (front ? S.XenbusStateInitialised : S.XenbusStateConnected)
    ) {
      this.runDisconnectChecks();
      if (front) l.frontReleased = false;
      else l.backReleased = false;
      [l.boundPorts, l.frontPort, l.backPort] = [undefined, undefined, undefined];
    }
    const back =
      to < from &&
      !(
        from === S.XenbusStateClosed ||
        ((from === S.XenbusStateReconfiguring || from === S.XenbusStateReconfigured) &&
          to >= S.XenbusStateConnected)
      );
    if (to > S.XenbusStateReconfigured || to === S.XenbusStateUnknown || back) {
      this.report(
        "unexpected-state",
        dev.env.domid,
        this.#abs(dev),
        "state",
        `the ${dev.side} went from ${xenbusStateName(from)} to ${xenbusStateName(to)} (other end ${xenbusStateName(dev.otherendState)}), which no peer walk expects`,
        `state:${dev.nodename}:${from}:${to}`,
      );
    }
  }

  // ---- notifications (EVTCHNOP_send, seen as the peer port raised) ------------------------------------------------------------------

  /** A raise of `port` in `domid`: if it is a device's port, a notification from the other end. */
  #onRaise(domid: number, port: number): void {
    for (const l of this.#links.values()) {
      if ((l.frontDomid !== domid && l.backDomid !== domid) || l.frontReleased || l.backReleased)
        continue;
      if (l.frontPort === undefined || l.backPort === undefined) resolveLink(this.host, l);
      const side =
        l.backDomid === domid && l.backPort === port
          ? "front"
          : l.frontDomid === domid && l.frontPort === port
            ? "back"
            : undefined;
      if (side === undefined) continue;
      // EVTCHNOP_bind_interdomain sets the binder's new port pending at once, to cover sends made
      // while the other end was unbound (event_channel.c: evtchn_bind_interdomain →
      // evtchn_port_set_pending on the local port). The first raise of a new front/back port
      // pair is that one, the backend's own bind, not a notification from the frontend.
      const pair = `${l.frontPort}:${l.backPort}`;
      if (side === "front" && l.boundPorts !== pair) {
        l.boundPorts = pair;
        return;
      }
      if (l.ring === undefined) resolveLink(this.host, l);
      if (l.ring === undefined) return;
      const ix = sharedIndices(l.ring);
      const [prod, event] =
        side === "front" ? [ix.reqProd, ix.reqEvent] : [ix.rspProd, ix.rspEvent];
      const c = l.notify[side];
      const old =
        c.lastProd ??
        (side === "front"
          ? ix.rspProd
          : (ringEnd(this.host, this.#rings, l, "back")?.ring.reqCons ?? prod));
      c.sends++;
      c.pushed += (prod - old) >>> 0;
      if (prod === old && c.lastProd !== undefined) c.empty++;
      if ((prod - event) >>> 0 < (prod - old) >>> 0) c.needed++;
      else c.unneeded++;
      c.lastProd = prod;
      return;
    }
  }

  #storms(l: DeviceLink): void {
    const threshold = this.#opts.stormThreshold ?? 4;
    for (const side of ["front", "back"] as const) {
      const c = l.notify[side];
      if (c.reported || c.unneeded < threshold || c.unneeded <= c.needed) continue;
      c.reported = true;
      const domid = side === "front" ? l.frontDomid : l.backDomid;
      const [entries, idx, peer] =
        side === "front"
          ? ["requests", "req_event", "backend"]
          : ["responses", "rsp_event", "frontend"];
      this.report(
        "notify-storm",
        domid,
        side === "front" ? l.frontPath : l.backPath,
        `port ${side === "front" ? l.frontPort : l.backPort}`,
        `${c.sends} notifications for ${c.pushed} ${entries} pushed, where the ${peer}'s ${idx} asked for ${c.needed} (${c.unneeded} unneeded, ${c.empty} with nothing new on the ring)`,
        `storm:${side}:${l.frontPath}`,
      );
    }
  }

  // ---- quiescence ---------------------------------------------------------------------

  /** Runs the checks due when nothing is left to run: pending disconnect checks, lost wake-ups, masked ports. */
  checkQuiescent(): void {
    if (this.#closed || this.host.closed) return;
    this.runDisconnectChecks();
    for (const l of this.#links.values()) {
      this.#halted(l);
      this.#lostWakeup(l);
    }
    this.#maskedPending();
  }

  #halted(l: DeviceLink): void {
    if (l.ring === undefined) return;
    for (const side of ["front", "back"] as const) {
      const e = ringEnd(this.host, this.#rings, l, side);
      if (e?.ring.halted !== undefined) this.#reportHalt(l, e, side);
    }
  }

  /**
   * A ring end halts (a hardening check of the honest end refused what the peer wrote, io/ring.h's
   * RING_REQUEST_PROD_OVERFLOW or a response index beyond the ring): found at the next trace
   * event after it, while the ring page is still mapped, and reported against the peer.
   */
  #haltCheck(): void {
    if (this.#unhalted.size === 0 || this.#closed) return;
    for (const r of this.#unhalted) {
      if (r.ring.halted !== undefined) {
        this.#unhalted.delete(r);
        const l = this.#linkOfRing(r);
        if (l !== undefined) this.#reportHalt(l, r, r.side);
      } else if (!r.pages[0]!.alive) this.#unhalted.delete(r);
    }
  }

  /**
   * The device whose ring `r` is (its first page, through xenstore and the grant table), as a
   * link whose `ring` is that one (any queue of a multi-queue device).
   */
  #linkOfRing(r: InspectedRing): (DeviceLink & { queue?: number }) | undefined {
    for (const l of this.#links.values()) {
      for (const { queue, ring } of deviceRings(this.host, l)) {
        if (ring.mfn !== r.mfn) continue;
        const view = { ...l, ring, ...(queue !== undefined ? { queue } : {}) };
        if (isRingPage(this.host, view, r.side, r.pages[0])) return view;
      }
    }
    return undefined;
  }

  /**
   * A hostile peer (hostile-peer.ts) corrupted the ring of the device at `frontPath` as its
   * `liar` end: a halt that follows is that end's fault, whichever end halted.
   */
  noteLie(frontPath: string, liar: "frontend" | "backend", what: string): void {
    if (!this.#lies.has(frontPath)) this.#lies.set(frontPath, { liar, what });
  }

  /** `ring-halted` against the domain at fault: the other end of the one that halted, or a known liar. */
  #reportHalt(l: DeviceLink, e: InspectedRing, side: "front" | "back"): void {
    const err = e.ring.halted!;
    const lie = this.#lies.get(l.frontPath);
    const peer = lie?.liar ?? (side === "front" ? "backend" : "frontend");
    const [faulty, domid, path] =
      peer === "backend"
        ? ["backend", l.backDomid, l.backPath]
        : ["frontend", l.frontDomid, l.frontPath];
    const halter = side === "front" ? `frontend d${l.frontDomid}` : `backend d${l.backDomid}`;
    const hint =
      peer === "backend"
        ? 'the backend published rsp_prod beyond the requests it was given (or garbage on the ring); a driver under a hostile backend on purpose: expectFinding(host, "ring-halted")'
        : 'the frontend published req_prod more than a ring ahead of what the backend consumed (RING_REQUEST_PROD_OVERFLOW); a driver under a hostile frontend on purpose: expectFinding(host, "ring-halted")';
    this.report(
      "ring-halted",
      domid,
      path,
      `ring${e.name !== undefined ? ` "${e.name}"` : ""} (grant ref ${l.ring!.refs[0]} of d${l.frontDomid}${"queue" in l && l.queue !== undefined ? `, queue ${String(l.queue)}` : ""})`,
      `the ${faulty} broke the ring protocol${lie !== undefined ? ` (a hostile peer: ${lie.what})` : ""} and the ${halter} halted the ring: ${err.message}`,
      `halt:${side}:${l.frontPath}:${l.ring!.mfn}`,
      hint,
    );
  }

  #portPending(domid: number, port: number | undefined): boolean {
    const d = inspectDomain(this.host.hv, domid);
    if (d === undefined || port === undefined) return false;
    return d.portIsPending(port);
  }

  /** Lost wake-ups on every ring of the device (each queue of a multi-queue one). */
  #lostWakeup(link: DeviceLink): void {
    const fs = link.front?.state ?? link.back?.otherendState;
    const bs = link.back?.state ?? link.front?.otherendState;
    if (
      fs !== S.XenbusStateConnected ||
      bs !== S.XenbusStateConnected ||
      link.frontReleased ||
      link.backReleased
    )
      return;
    resolveLink(this.host, link);
    const views = deviceRings(this.host, link).map(
      (q) =>
        [{ ...link, ring: q.ring, frontPort: q.frontPort, backPort: q.backPort }, q.queue] as const,
    );
    // A halted ring disables the whole device: its other queues' work is abandoned, not lost.
    if (
      views.some(
        ([v]) =>
          ringEnd(this.host, this.#rings, v, "front")?.ring.halted !== undefined ||
          ringEnd(this.host, this.#rings, v, "back")?.ring.halted !== undefined,
      )
    )
      return;
    for (const [v, queue] of views) this.#lostWakeupOn(v, queue);
  }

  #lostWakeupOn(l: DeviceLink, queue: number | undefined): void {
    const r = l.ring!;
    const lie = this.#lies.get(l.frontPath);
    const lied =
      lie !== undefined ? `; a hostile ${lie.liar} lied on this device (${lie.what})` : "";
    const fe = ringEnd(this.host, this.#rings, l, "front");
    const be = ringEnd(this.host, this.#rings, l, "back");
    if (fe?.ring.halted !== undefined || be?.ring.halted !== undefined) return;
    const ix = sharedIndices(r);
    const where = `ring (grant ref ${r.refs[0]} of d${l.frontDomid}${queue !== undefined ? `, queue ${queue}` : ""}, ports d${l.frontDomid}:${l.frontPort} / d${l.backDomid}:${l.backPort})`;
    const lost = `lost:${queue ?? ""}:`;
    const reqCons = be?.ring.reqCons;
    const req = (ix.reqProd - (reqCons ?? ix.rspProd)) >>> 0;
    if (
      req > 0 &&
      req <= r.frames.length * XEN_PAGE_SIZE &&
      !this.#portPending(l.backDomid, l.backPort)
    ) {
      const at = `req_prod ${ix.reqProd}, req_event ${ix.reqEvent}, ${reqCons !== undefined ? `req_cons ${reqCons}` : `rsp_prod ${ix.rspProd}`}`;
      if (reqCons === undefined || inWindow(ix.reqEvent, reqCons, ix.reqProd)) {
        this.report(
          "lost-wakeup",
          l.frontDomid,
          l.frontPath,
          where,
          `${req} request(s) pushed where the backend asked to be woken (${at}), no event pending, both ends blocked${lied}`,
          `${lost}req:${l.frontPath}:${ix.reqProd}`,
          "the frontend pushed requests without notifying; notify when pushRequestsAndCheckNotify() says so",
        );
      } else {
        this.report(
          "lost-wakeup",
          l.backDomid,
          l.backPath,
          where,
          `${req} request(s) unconsumed and req_event never re-armed past what the backend consumed (${at}), no event pending, both ends blocked${lied}`,
          `${lost}req:${l.frontPath}:${ix.reqProd}`,
          "the backend went idle without its final check; loop on finalCheckForRequests()",
        );
      }
    }
    const rspCons = fe?.ring.rspCons;
    if (rspCons === undefined) return;
    const rsp = (ix.rspProd - rspCons) >>> 0;
    if (
      rsp > 0 &&
      rsp <= r.frames.length * XEN_PAGE_SIZE &&
      !this.#portPending(l.frontDomid, l.frontPort)
    ) {
      const at = `rsp_prod ${ix.rspProd}, rsp_event ${ix.rspEvent}, rsp_cons ${rspCons}`;
      if (inWindow(ix.rspEvent, rspCons, ix.rspProd)) {
        this.report(
          "lost-wakeup",
          l.backDomid,
          l.backPath,
          where,
          `${rsp} response(s) pushed where the frontend asked to be woken (${at}), no event pending, both ends blocked${lied}`,
          `${lost}rsp:${l.frontPath}:${ix.rspProd}`,
          "the backend pushed responses without notifying; notify when pushResponsesAndCheckNotify() says so",
        );
      } else {
        this.report(
          "lost-wakeup",
          l.frontDomid,
          l.frontPath,
          where,
          `${rsp} response(s) unconsumed and rsp_event never re-armed past what the frontend consumed (${at}), no event pending, both ends blocked${lied}`,
          `${lost}rsp:${l.frontPath}:${ix.rspProd}`,
          "the frontend went idle without its final check; loop on finalCheckForResponses()",
        );
      }
    }
  }

  #maskedPending(): void {
    for (const d of inspectDomains(this.host.hv)) {
      if (d.isDying) continue;
      const t = d.evtchn;
      for (let port = 1; port < t.validEvtchns; port++) {
        if (!t.isUsable(port)) continue;
        if (!d.portIsPending(port) || !d.portIsMasked(port)) continue;
        // Only devices' ports: a test may park its own ports masked on purpose.
        const l = [...this.#links.values()].find(
          (x) =>
            (x.frontDomid === d.domid && x.frontPort === port) ||
            (x.backDomid === d.domid && x.backPort === port),
        );
        if (l === undefined) continue;
        const dev = l.frontDomid === d.domid && l.frontPort === port ? l.frontPath : l.backPath;
        this.report(
          "masked-pending",
          d.domid,
          dev,
          `port ${port}`,
          "masked with an event pending while the host is quiescent: the event is never delivered",
          `masked:${d.domid}:${port}:${this.host.hv.scheduler.now}`,
        );
      }
    }
  }

  // ---- disconnect and teardown -----------------------------------------------------------

  /** Leak checks for device ends released since the last run (see disconnect-leaks.ts). */
  runDisconnectChecks(): void {
    for (const key of [...this.#pendingChecks]) {
      const [side, frontPath] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
      const l = this.#links.get(frontPath);
      this.#pendingChecks.delete(key);
      if (l === undefined) continue;
      this.#storms(l);
      const end = side === "frontend" ? "front" : "back";
      const domid = end === "front" ? l.frontDomid : l.backDomid;
      const peer = end === "front" ? l.backDomid : l.frontDomid;
      // Another live device between the same two domains: its resources are not told apart; wait.
      const live = [...this.#links.values()].filter(
        (x) =>
          x !== l &&
          (end === "front"
            ? x.frontDomid === domid &&
              x.backDomid === peer &&
              x.front !== undefined &&
              !x.frontReleased
            : x.backDomid === domid &&
              x.frontDomid === peer &&
              x.back !== undefined &&
              !x.backReleased),
      );
      if (live.length > 0) continue;
      // A device still registered (Closed and online, waiting for its peer) keeps the framework's
      // watch on the other end's state; the same device connecting again (a backend restart, a
      // rebind) holds its new connection's resources.
      const self = end === "front" ? l.front : l.back;
      const registered = self !== undefined && !self.removed;
      const again = registered && self.state !== S.XenbusStateClosed;
      const others = ownedBy([
        ...[...this.#links.values()].flatMap((x) =>
          [
            x.front && !x.frontReleased && x.front.env.domid === domid ? x.front.resources : [],
            x.back && !x.backReleased && x.back.env.domid === domid ? x.back.resources : [],
          ].flat(),
        ),
        ...(again ? self.resources : []),
        ...(registered ? [`watch ${end === "front" ? l.backPath : l.frontPath}/state`] : []),
      ]);
      const allow = new Set<number>(domid === 0 ? this.host.inventory().ownDom0Ports : []);
      const rec = this.host.domain(domid);
      if (rec !== undefined) [rec.storePort, rec.consolePort].forEach((p) => void allow.add(p));
      // dom0's ports bound to the peer's xenstore or console port are the toolstack's, whichever
      // daemon instance holds them (a restarted xenconsoled's too).
      const peerRec = this.host.domain(peer);
      const d0 = domid === 0 ? inspectDomain(this.host.hv, 0) : undefined;
      if (d0 !== undefined && peerRec !== undefined) {
        const t = d0.evtchn;
        for (let port = 1; port < t.validEvtchns; port++) {
          if (
            t.remoteDom[port] === peer &&
            (t.remotePort[port] === peerRec.storePort || t.remotePort[port] === peerRec.consolePort)
          )
            allow.add(port);
        }
      }
      resolveLink(this.host, l);
      for (const x of endLeaks(this.host, l, end, others, allow)) {
        this.report(
          x.kind,
          x.domid,
          end === "front" ? l.frontPath : l.backPath,
          x.what,
          x.detail,
          x.key,
        );
      }
    }
  }

  /**
   * Grant ends the drivers' grant clients deferred (XSA-396: the peer mapped the page when its
   * device was released) that the next retry would complete, because the peer has unmapped
   * since: entries of a domain with deferred ends, granted to a device peer, no longer mapped.
   * The framework retries every second of virtual time (Linux's `deferred_timer`).
   */
  endableDeferredGrants(): number {
    const seen = new Set<unknown>();
    let n = 0;
    for (const l of this.#links.values()) {
      const g = l.front?.env.grants;
      if (g === undefined || seen.has(g) || g.deferred === 0) continue;
      seen.add(g);
      const gt = inspectDomain(this.host.hv, l.frontDomid)?.gnttab;
      if (gt === undefined) continue;
      for (let ref = GNTTAB_NR_RESERVED_ENTRIES; ref < gt.nrEntries; ref++) {
        const flags = gt.entryFlags(ref);
        if ((flags & GTF.GTF_type_mask) === 0 || gt.entryDomid(ref) !== l.backDomid) continue;
        if ((flags & (GTF.GTF_reading | GTF.GTF_writing)) === 0) n++;
      }
    }
    return n;
  }

  /** Before the teardown: disconnect checks, quiescent checks if stalled, storms, devices never connected. */
  beforeTeardown(): void {
    if (this.host.hv.scheduler.stalled) this.checkQuiescent();
    else this.runDisconnectChecks();
    for (const l of this.#links.values()) {
      this.#storms(l);
      this.#halted(l);
      for (const dev of [
        l.frontReleased ? undefined : l.front,
        l.backReleased ? undefined : l.back,
      ]) {
        if (
          dev === undefined ||
          dev.state === S.XenbusStateConnected ||
          dev.state === S.XenbusStateClosed
        )
          continue;
        if (this.host.hv.domainById(dev.env.domid)?.isDying !== false) continue;
        this.report(
          "device-stuck",
          dev.env.domid,
          this.#abs(dev),
          "state",
          `the ${dev.side} is in ${xenbusStateName(dev.state)} (other end ${xenbusStateName(dev.otherendState)}) at teardown: it never reached Connected or Closed`,
          `stuck:${dev.nodename}`,
        );
      }
    }
  }

  /** After the teardown: what the teardown released, and its timeouts. */
  afterTeardown(report: LeakReport): void {
    this.runDisconnectChecks();
    for (const t of report.teardownTimeouts) {
      const m = /^d(\d+) (.*)$/.exec(t);
      if (m) this.#teardownTimeout(Number(m[1]), m[2]!);
    }
  }

  #teardownTimeout(domid: number, dev: string): void {
    const [kind, devid] = dev.split("/");
    const l = [...this.#links.values()].find(
      (x) => x.frontDomid === domid && x.type === kind && x.frontPath.endsWith(`/${devid}`),
    );
    // A device no backend driver ever took (a toolstack test's bare vbd) is no driver's timeout.
    if (l?.back === undefined) return;
    const back = l.backDomid;
    this.report(
      "teardown-timeout",
      back,
      l.backPath,
      "state",
      `the backend did not reach Closed before the toolstack's timeout when d${domid} was destroyed`,
      `teardown:${domid}:${dev}`,
    );
  }

  /** Stops listening. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#off.splice(0)) off();
  }
}
