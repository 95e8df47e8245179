/**
 * Request lifetimes of every shared ring, recorded natively while a {@link TraceRecorder} is
 * attached: what the SDK's ring ends announce (`driverInspect`) turned into request phases on one
 * track per ring, in the frontend's process, by request id:
 *
 * - "queued": the frontend wrote the request into the ring (`RING_GET_REQUEST(r,
 *   r->req_prod_pvt++)`, FrontRing `produceRequest` / `commitRequest`);
 * - "notified": the frontend domain's successful `EVTCHNOP_send` on the ring's event channel
 *   (its own port, the device's `event-channel` key; args `port` and the send's trace `seq`)
 *   after the push that published it
 *   (`RING_PUSH_REQUESTS[_AND_CHECK_NOTIFY]`), for every request pushed and not yet consumed;
 *   none when no send came between the push and the backend taking the request (the push said
 *   no notification was needed, or the backend polled);
 * - "consumed": the backend took it (`RING_COPY_REQUEST`, req_cons++: BackRing `consumeRequest` /
 *   `copyRequest`);
 * - "responded": the backend pushed its response (`RING_PUSH_RESPONSES`, after the response was
 *   written with `RING_GET_RESPONSE(r, r->rsp_prod_pvt++)`);
 * - "completed": the frontend took the response (FrontRing `consumeResponse` / `copyResponse`).
 *
 * Requests are matched by their `id` field (io/ring.h protocols echo the request's id in the
 * response: blkif, netif, the examples' rings); a protocol whose entries have no `id` is matched
 * by ring index, which pairs a request with its response only for a backend answering in order.
 * An entry the ring could not decode for tooling (a hostile peer's) is left out. A slice is named
 * by the spec's `requestLabel` (blkif: "READ", "WRITE", ...), else the exporter's
 * "request <id>".
 *
 * Which ring belongs to which device is found from the host, never from the driver: the frontend
 * domain whose grant table grants the ring's first page (page identity, so a ring of another host
 * is never taken for one of this host's), then the xenstore device whose `ring-ref` /
 * `ring-ref0` (or `queue-N/…` under `multi-queue-num-queues`, blkif.h's multi-queue keys) names
 * that grant, for the track's name ("vbd 51712 ring", "vbd 51712 queue 1 ring") and the
 * `event-channel` whose sends are notifications. The backend's end is the one whose mapping
 * (maptrack entry) of that grant holds its first page. A ring with no such device keys is named
 * "<its name option> (grant <ref>)" and gets no "notified" phase (its port is unknown). A ring end
 * made before the recorder was attached is not announced to it, so it is not traced.
 *
 * Memory: per ring end a WeakMap entry (dies with the ring); per resolved front ring its ids
 * pushed but not consumed or answered but not pushed, each at most the ring's size; the newest
 * {@link FRONTS_KEPT} front rings are kept for pairing back ends (and their ports).
 */
import { GTF } from "@pvkit/hypervisor-sim/abi";
import type { HypercallTrace } from "@pvkit/hypervisor-sim";
import { type DomainInspection, inspectDomains } from "@pvkit/hypervisor-sim/inspect";
import type { DriverInspectListener, InspectedRing, InspectedRingEnd } from "@pvkit/guest-sdk";
import type { Host } from "../host/host.js";
import { inspectInt } from "../host/inspect-node.js";
import type { RequestPhase } from "./records.js";

/** Resolved front rings kept for pairing back ends (reconnects make new ones). */
const FRONTS_KEPT = 256;

/** How a phase is recorded (the recorder's `requestPhase`). */
export type PhaseSink = (
  domid: number,
  track: string,
  id: string,
  phase: RequestPhase,
  label: string | undefined,
  args: Readonly<Record<string, unknown>> | undefined,
) => void;

/** One front ring resolved to its device: where its phases go, and what is in flight. */
interface RingLink {
  readonly frontDomid: number;
  /** The grant ref of the ring's first page. */
  readonly ref: number;
  readonly track: string;
  /** The frontend's port of the ring's event channel, when the device's keys name one. */
  readonly port: number | undefined;
  /** RING_SIZE: bounds every list below. */
  readonly size: number;
  readonly label: ((req: unknown) => string | undefined) | undefined;
  /** Ids produced by the frontend, not yet pushed. */
  readonly unpushed: string[];
  /** Ids pushed, neither notified nor consumed yet (insertion order: oldest first). */
  readonly unnotified: Set<string>;
  /** Ids whose response the backend produced, not yet pushed. */
  readonly unpushedRsp: string[];
}

interface RingState {
  readonly r: InspectedRing;
  /** undefined: not tried; null: tried and not found (at xenstore generation `tried`). */
  link: RingLink | null | undefined;
  tried: number;
}

/** What a request or response is known by: its `id` (a number or bigint), else the ring index. */
function idOf(entry: unknown, idx: number): string {
  const id = (entry as { id?: unknown }).id;
  return typeof id === "number" || typeof id === "bigint" ? String(id) : `slot ${idx}`;
}

/** Appends `id`, dropping the oldest beyond `size` (only a peer lying about indices gets there). */
function pushBounded(list: string[], id: string, size: number): void {
  list.push(id);
  if (list.length > size) list.shift();
}

function pageAt(d: DomainInspection, gfn: number): unknown {
  try {
    return d.physmap.page(gfn);
  } catch {
    return undefined; // a hole
  }
}

/** The device directory (and queue) of `domid` whose ring keys name grant `ref`. */
function deviceOf(
  host: Host,
  domid: number,
  ref: number,
): { track: string; port: number | undefined } | undefined {
  const base = `/local/domain/${domid}/device`;
  for (const type of host.xenstored.inspect(base)?.children ?? []) {
    for (const devid of host.xenstored.inspect(`${base}/${type}`)?.children ?? []) {
      const dev = `${base}/${type}/${devid}`;
      const queues = inspectInt(host, `${dev}/multi-queue-num-queues`);
      const dirs =
        queues === undefined
          ? [{ dir: dev, q: undefined }]
          : Array.from({ length: Math.min(queues, 256) }, (_, q) => ({
              dir: `${dev}/queue-${q}`,
              q,
            }));
      for (const { dir, q } of dirs) {
        const first = inspectInt(host, `${dir}/ring-ref`) ?? inspectInt(host, `${dir}/ring-ref0`);
        if (first !== ref) continue;
        return {
          track: q === undefined ? `${type} ${devid} ring` : `${type} ${devid} queue ${q} ring`,
          port: inspectInt(host, `${dir}/event-channel`),
        };
      }
    }
  }
  return undefined;
}

/**
 * Follows one host's rings for a recorder: give {@link listener} to `driverInspect.listen`, and
 * call {@link hypercall} for each hypercall trace event and {@link xenstoreChanged} for each
 * xenstore request, after the recorder pushed its own record.
 */
export class RingLifetimes {
  readonly #host: Host;
  readonly #sink: PhaseSink;
  readonly #rings = new WeakMap<InspectedRingEnd, RingState>();
  /** Resolved front rings, newest last (a back end is paired with the newest of its grant). */
  readonly #fronts: RingLink[] = [];
  /** "domid:port" of a front ring's event channel → the ring (kept front rings only). */
  readonly #byPort = new Map<string, RingLink>();
  /** Counts xenstore requests: a ring not found is looked for again only after one. */
  #xs = 0;

  constructor(host: Host, sink: PhaseSink) {
    this.#host = host;
    this.#sink = sink;
  }

  /** What the recorder listens to on `driverInspect`. */
  readonly listener: DriverInspectListener = {
    ring: (r) => {
      this.#rings.set(r.ring, { r, link: undefined, tried: -1 });
    },
    requestProduced: (end, idx, req) => {
      const l = this.#link(end, "front");
      if (l === undefined || req === undefined) return;
      const id = idOf(req, idx);
      pushBounded(l.unpushed, id, l.size);
      this.#sink(l.frontDomid, l.track, id, "queued", this.#label(l, req), { idx });
    },
    pushed: (end) => {
      const st = this.#rings.get(end);
      const l = st?.link;
      if (st === undefined || l == null) return;
      if (st.r.side === "front") {
        for (const id of l.unpushed) {
          l.unnotified.delete(id); // re-added last: insertion order stays oldest first
          l.unnotified.add(id);
          if (l.unnotified.size > l.size) l.unnotified.delete(l.unnotified.values().next().value!);
        }
        l.unpushed.length = 0;
      } else {
        for (const id of l.unpushedRsp)
          this.#sink(l.frontDomid, l.track, id, "responded", undefined, undefined);
        l.unpushedRsp.length = 0;
      }
    },
    requestConsumed: (end, idx, req) => {
      const l = this.#link(end, "back");
      if (l === undefined || req === undefined) return;
      const id = idOf(req, idx);
      l.unnotified.delete(id);
      this.#sink(l.frontDomid, l.track, id, "consumed", undefined, undefined);
    },
    responseProduced: (end, idx, rsp) => {
      const l = this.#link(end, "back");
      if (l !== undefined && rsp !== undefined) pushBounded(l.unpushedRsp, idOf(rsp, idx), l.size);
    },
    responseConsumed: (end, idx, rsp) => {
      const l = this.#link(end, "front");
      if (l !== undefined && rsp !== undefined)
        this.#sink(l.frontDomid, l.track, idOf(rsp, idx), "completed", undefined, undefined);
    },
  };

  /**
   * A hypercall returned: a frontend's successful `EVTCHNOP_send` on its ring's port notifies
   * what it pushed; its `EVTCHNOP_close` of that port ends the port's link to the ring.
   */
  hypercall(e: HypercallTrace): void {
    if (e.result !== 0 || (e.cmd !== "EVTCHNOP_send" && e.cmd !== "EVTCHNOP_close")) return;
    const port = (e.args as { port?: unknown } | null)?.port;
    if (typeof port !== "number") return;
    const key = `${e.domid}:${port}`;
    const l = this.#byPort.get(key);
    if (l === undefined) return;
    if (e.cmd === "EVTCHNOP_close") {
      this.#byPort.delete(key);
      return;
    }
    for (const id of l.unnotified)
      this.#sink(l.frontDomid, l.track, id, "notified", undefined, { port, seq: e.seq });
    l.unnotified.clear();
  }

  /** xenstored took a request (a device's ring keys may have appeared). */
  xenstoreChanged(): void {
    this.#xs++;
  }

  /** The spec's name for `req`; a label function that throws names nothing. */
  #label(l: RingLink, req: unknown): string | undefined {
    try {
      return l.label?.(req);
    } catch {
      return undefined; // RingSpec.requestLabel must not throw; a trace never breaks a driver
    }
  }

  /** The link of an announced ring end of `side`, resolved on first use. */
  #link(end: InspectedRingEnd, side: "front" | "back"): RingLink | undefined {
    const st = this.#rings.get(end);
    if (st === undefined || st.r.side !== side) return undefined;
    if (st.link != null) return st.link;
    if (st.link === null && st.tried === this.#xs) return undefined;
    st.tried = this.#xs;
    st.link = (side === "front" ? this.#resolveFront(st.r) : this.#resolveBack(st.r)) ?? null;
    return st.link ?? undefined;
  }

  /** The domain of this host granting the ring's first page, and its device. */
  #resolveFront(r: InspectedRing): RingLink | undefined {
    const page = r.pages[0];
    for (const d of inspectDomains(this.#host.hv)) {
      const g = d.gnttab;
      for (let ref = 0; ref < g.nrEntries; ref++) {
        if ((g.entryFlags(ref) & GTF.GTF_type_mask) !== GTF.GTF_permit_access) continue;
        if (pageAt(d, g.entryFrame(ref)) !== page) continue;
        const dev = deviceOf(this.#host, d.domid, ref);
        const spec = r.spec;
        const link: RingLink = {
          frontDomid: d.domid,
          ref,
          track: dev?.track ?? `${r.name ?? "ring"} (grant ${ref})`,
          port: dev?.port,
          size: r.ring.size,
          label: spec.requestLabel === undefined ? undefined : (req) => spec.requestLabel!(req),
          unpushed: [],
          unnotified: new Set(),
          unpushedRsp: [],
        };
        this.#fronts.push(link);
        if (this.#fronts.length > FRONTS_KEPT) this.#forget(this.#fronts.shift()!);
        if (link.port !== undefined) this.#byPort.set(`${d.domid}:${link.port}`, link);
        return link;
      }
    }
    return undefined;
  }

  /** Drops an old front ring's port (its ring ends keep their link in their own state). */
  #forget(old: RingLink): void {
    const key = `${old.frontDomid}:${old.port}`;
    if (this.#byPort.get(key) === old) this.#byPort.delete(key);
  }

  /** The front link whose grant this host's backend maps at the ring's first page. */
  #resolveBack(r: InspectedRing): RingLink | undefined {
    const page = r.pages[0];
    for (const d of inspectDomains(this.#host.hv)) {
      for (const [, m] of d.gnttab.maptrack.entriesDescending()) {
        if (m.hostGfn === undefined || pageAt(d, m.hostGfn) !== page) continue;
        for (let i = this.#fronts.length - 1; i >= 0; i--) {
          const f = this.#fronts[i]!;
          if (f.frontDomid === m.domid && f.ref === m.ref) return f;
        }
      }
    }
    return undefined;
  }
}
