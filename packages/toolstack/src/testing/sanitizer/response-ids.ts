/**
 * Response ids, checked from the frontend's own ring operations (driverInspect's
 * `requestProduced` / `responseConsumed`), never from the shared slots later: requests and
 * responses share a ring's entries (io/ring.h's `union *_sring_entry`), so once answered a
 * request's slot holds its response, and a slot read after the fact may no longer say what was
 * issued. Each response the frontend takes must answer an id it issued and has not seen
 * answered; an optional protocol check compares it with its request.
 */
import type { InspectedRing, InspectedRingEnd } from "@pvkit/guest-sdk";
import type { Host } from "../../host/host.js";
import type { FindingKind } from "./findings.js";
import { type DeviceLink, isRingPage, resolveLink } from "./ring-view.js";

/** How a finding is reported (the sanitizer's `report`, without the hint). */
export type Reporter = (
  kind: FindingKind,
  domid: number,
  device: string,
  what: string,
  detail: string,
  key: string,
) => void;

/**
 * Ids one FrontRing produced and not yet seen answered, keyed by the id value itself (numbers
 * and bigints compare by value in a Map), with the request as produced. A reconnect makes a new
 * FrontRing, so ids re-issued on it (blkif_recover) start afresh.
 */
interface FrontIds {
  readonly ring: InspectedRing;
  readonly issued: Map<unknown, unknown>;
  /** The device whose ring this is; null when it is no device of this host. */
  link: DeviceLink | null | undefined;
}

export class ResponseIds {
  readonly #host: Host;
  readonly #links: ReadonlyMap<string, DeviceLink>;
  readonly #report: Reporter;
  readonly #check:
    | ((type: string, request: unknown, response: unknown) => string | undefined)
    | undefined;
  readonly #fronts = new WeakMap<InspectedRingEnd, FrontIds>();

  constructor(
    host: Host,
    links: ReadonlyMap<string, DeviceLink>,
    report: Reporter,
    check?: (type: string, request: unknown, response: unknown) => string | undefined,
  ) {
    this.#host = host;
    this.#links = links;
    this.#report = report;
    this.#check = check;
  }

  /** A ring end was announced: a frontend's starts with nothing issued. */
  ring(r: InspectedRing): void {
    if (r.side === "front")
      this.#fronts.set(r.ring, { ring: r, issued: new Map(), link: undefined });
  }

  /** The frontend produced `req`: its id is issued. */
  produced(end: InspectedRingEnd, req: unknown): void {
    const f = this.#fronts.get(end);
    if (f === undefined) return;
    const id = (req as { id?: unknown } | undefined)?.id;
    if (id !== undefined) f.issued.set(id, req);
  }

  /** The frontend consumed `rsp` from slot `idx`: its id must be issued and not yet answered. */
  consumed(end: InspectedRingEnd, idx: number, rsp: unknown): void {
    const f = this.#fronts.get(end);
    if (f === undefined) return;
    const id = (rsp as { id?: unknown } | undefined)?.id;
    if (id === undefined) return;
    const req = f.issued.get(id);
    if (req !== undefined) f.issued.delete(id);
    const l = this.#linkOf(f);
    if (l === undefined) return;
    const where = `ring (grant ref ${l.ring!.refs[0]} of d${l.frontDomid})`;
    if (req === undefined) {
      this.#report(
        "unknown-response-id",
        l.backDomid,
        l.backPath,
        where,
        `response ${idx} answers id ${String(id)}, which the frontend never issued (or was answered already)`,
        `rspid:${l.frontPath}`,
      );
      return;
    }
    const bad = this.#check?.(l.type, req, rsp);
    if (bad !== undefined)
      this.#report(
        "bad-response",
        l.backDomid,
        l.backPath,
        where,
        `response ${idx} (id ${String(id)}): ${bad}`,
        `badrsp:${l.frontPath}`,
      );
  }

  /** The device whose ring (its first page, found through xenstore and the grant table) `f` runs on. */
  #linkOf(f: FrontIds): DeviceLink | undefined {
    if (f.link === null) return undefined;
    if (f.link !== undefined && f.link.ring?.mfn === f.ring.mfn) return f.link;
    for (const l of this.#links.values()) {
      if (l.frontReleased) continue;
      if (l.ring?.mfn !== f.ring.mfn) resolveLink(this.#host, l);
      if (l.ring?.mfn === f.ring.mfn && isRingPage(this.#host, l, "front", f.ring.pages[0]))
        return (f.link = l);
    }
    // Consumed responses mean a connected backend, so the keys were there: another host's ring.
    f.link = null;
    return undefined;
  }
}
