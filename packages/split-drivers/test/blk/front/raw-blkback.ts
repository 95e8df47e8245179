// A small blkback written by hand for the blkfront tests: dom0, raw xenstore (LocalXenbusTransport),
// raw BackRings over memory storage. It offers exactly the keys a test gives (absent keys stay
// absent), can skip or park in states, hold requests, answer EOPNOTSUPP, keep grants mapped, and
// let a test forge responses. Not a reference blkback: just enough of io/blkif.h to be a peer.
import type { Page, ReadonlyPage } from "@pvkit/hypervisor-sim";
import { BLKIF_OP, BLKIF_RSP, XenbusState as S } from "@pvkit/hypervisor-sim/abi";
import { BackRing, type EventChannel, type MappedGrant, driverEnv } from "@pvkit/guest-sdk";
import { type Host, LocalXenbusTransport } from "@pvkit/toolstack";
import {
  type BlkifRequest,
  type BlkifResponse,
  type BlkifSegment,
  blkifRingSpec,
  decodeIndirectSegments,
} from "@pvkit/split-drivers";

export type Keys = Record<string, string | number | undefined>;

export interface RawBackOptions {
  readonly mode?: "normal" | "straight-to-connected" | "parked-initialised";
  /** Written before InitWait (max-ring-page-order, multi-queue-max-queues, feature-max-indirect-segments). */
  readonly probeKeys?: Keys;
  /** Written at connect; default: sectors of `sectors`, info 0, sector-size 512. */
  readonly connectKeys?: Keys;
  /** Disk size in 512-byte sectors. Default 8192 (4 MiB). */
  readonly sectors?: number;
  /** Operations answered BLKIF_RSP_EOPNOTSUPP. */
  readonly unsupported?: readonly number[];
  /** Keep non-persistent data mappings after answering (XSA-396's misbehaving backend). */
  readonly keepMapped?: boolean;
}

/** The backend; see the file header. */
export class RawBlkback {
  readonly storage: Uint8Array;
  readonly requests: BlkifRequest[] = [];
  readonly frontStates: number[] = [];
  /** Hold requests instead of answering them (`release()` answers). */
  hold = false;
  /** Rewrites (or drops, with []) the responses to one request. */
  respond: ((req: BlkifRequest, rsp: BlkifResponse, queue: number) => BlkifResponse[]) | undefined;
  readonly #xs: LocalXenbusTransport;
  readonly #env;
  readonly #opts: RawBackOptions;
  readonly be: string;
  readonly fe: string;
  readonly #frontDomid: number;
  #rings: {
    ring: BackRing<BlkifRequest, BlkifResponse>;
    ch: EventChannel;
    maps: MappedGrant<Page>[];
  }[] = [];
  #held: { q: number; req: BlkifRequest }[] = [];
  #persistent = new Map<number, MappedGrant<Page>>();
  #kept: MappedGrant<ReadonlyPage | Page>[] = [];
  #usePersistent = false;
  #chain: Promise<void> = Promise.resolve();
  #sub: { unsubscribe(): void };
  #state = S.XenbusStateInitialising as number;
  errors: unknown[] = [];

  constructor(host: Host, frontDomid: number, devid: number, opts: RawBackOptions = {}) {
    this.#opts = opts;
    this.#frontDomid = frontDomid;
    this.storage = new Uint8Array((opts.sectors ?? 8192) * 512);
    this.#xs = LocalXenbusTransport.open(host);
    this.#env = driverEnv({ guest: host.dom0.guest, events: host.dom0.events, xs: this.#xs });
    this.be = `/local/domain/0/backend/vbd/${frontDomid}/${devid}`;
    this.fe = `/local/domain/${frontDomid}/device/vbd/${devid}`;
    this.#serial(async () => {
      await this.#write(opts.probeKeys ?? {});
      const mode = opts.mode ?? "normal";
      if (mode === "straight-to-connected") {
        await this.#write(this.#connectKeys());
        await this.#setState(S.XenbusStateConnected);
      } else if (mode === "parked-initialised") {
        await this.#setState(S.XenbusStateInitialised);
      } else await this.#setState(S.XenbusStateInitWait);
    });
    this.#sub = this.#xs
      .watch(`${this.fe}/state`)
      .subscribe({ error: () => undefined, next: () => this.#serial(() => this.#frontChanged()) });
  }

  get rings(): readonly { ring: BackRing<BlkifRequest, BlkifResponse>; ch: EventChannel }[] {
    return this.#rings;
  }

  /** Settles once everything queued so far has run. */
  idle(): Promise<void> {
    return this.#chain;
  }

  #serial(fn: () => Promise<void>): void {
    this.#chain = this.#chain.then(fn).catch((e: unknown) => void this.errors.push(e));
  }

  #connectKeys(): Keys {
    return {
      sectors: this.storage.length / 512,
      info: 0,
      "sector-size": 512,
      ...this.#opts.connectKeys,
    };
  }

  async #write(keys: Keys): Promise<void> {
    for (const [k, v] of Object.entries(keys))
      if (v !== undefined) await this.#xs.write(`${this.be}/${k}`, String(v));
  }

  async #setState(s: number): Promise<void> {
    this.#state = s;
    await this.#xs.write(`${this.be}/state`, String(s));
  }

  /** Writes backend keys now (a resize: `sectors`). */
  writeKeys(keys: Keys): Promise<void> {
    return new Promise((resolve) => this.#serial(async () => resolve(await this.#write(keys))));
  }

  async #frontChanged(): Promise<void> {
    const v = await this.#xs.read(`${this.fe}/state`).catch(() => undefined);
    const st = v === undefined ? 0 : Number(v);
    this.frontStates.push(st);
    if (
      (st === S.XenbusStateInitialised || st === S.XenbusStateConnected) &&
      this.#rings.length === 0 &&
      this.#state !== S.XenbusStateClosing
    ) {
      await this.#connect();
      if (this.#state !== S.XenbusStateConnected) {
        await this.#write(this.#connectKeys());
        await this.#setState(S.XenbusStateConnected);
      }
    } else if (st === S.XenbusStateClosing || st === S.XenbusStateClosed || st === 0) {
      this.#disconnect();
      if (st !== S.XenbusStateClosing && this.#state !== S.XenbusStateClosed)
        await this.#setState(S.XenbusStateClosed);
    } else if (st === S.XenbusStateInitialising && this.#state === S.XenbusStateClosed) {
      await this.#setState(S.XenbusStateInitWait);
    }
  }

  async #connect(): Promise<void> {
    const read = (k: string): Promise<string | undefined> =>
      this.#xs.read(`${this.fe}/${k}`).catch(() => undefined);
    const nq = Number((await read("multi-queue-num-queues")) ?? 1);
    const order = Number((await read("ring-page-order")) ?? 0);
    this.#usePersistent =
      (await read("feature-persistent")) === "1" &&
      this.#opts.connectKeys?.["feature-persistent"] === 1;
    const spec = blkifRingSpec("x86_64-abi");
    for (let q = 0; q < nq; q++) {
      const dir = nq > 1 ? `queue-${q}/` : "";
      const refs: number[] = [];
      if (order === 0) refs.push(Number(await read(`${dir}ring-ref`)));
      else for (let i = 0; i < 1 << order; i++) refs.push(Number(await read(`${dir}ring-ref${i}`)));
      const maps = this.#env.mapper.map(refs, this.#frontDomid);
      const ring = BackRing.attach(
        maps.map((m) => m.page),
        spec,
        0,
        { name: `raw blkback queue ${q}` },
      );
      const ch = this.#env.events.bindInterdomain(
        this.#frontDomid,
        Number(await read(`${dir}event-channel`)),
        { onEvent: () => this.#serve(q) },
      );
      this.#rings.push({ ring, ch, maps });
    }
  }

  #disconnect(): void {
    for (const r of this.#rings) {
      r.ch.close();
      for (const m of r.maps) m.unmap();
    }
    this.#rings = [];
    this.#held = [];
    for (const m of this.#persistent.values()) m.unmap();
    this.#persistent.clear();
    for (const m of this.#kept) m.unmap();
    this.#kept = [];
  }

  /** A backend restart: Closing, then (when the frontend is Closed) Closed; it reconnects. */
  restart(): void {
    this.#serial(() => this.#setState(S.XenbusStateClosing));
  }

  /** Unmaps what `keepMapped` kept (the backend finally lets go). */
  unmapKept(): void {
    for (const m of this.#kept) m.unmap();
    this.#kept = [];
  }

  #serve(q: number): void {
    const r = this.#rings[q];
    if (r === undefined) return;
    do {
      for (let req = r.ring.consumeRequest(); req !== undefined; req = r.ring.consumeRequest()) {
        this.requests.push(req);
        if (this.hold) this.#held.push({ q, req });
        else this.#answer(q, req);
      }
    } while (r.ring.finalCheckForRequests());
    if (r.ring.pushResponsesAndCheckNotify()) r.ch.notify();
  }

  /** Answers every held request (and stops holding). */
  release(): void {
    this.hold = false;
    const held = this.#held;
    this.#held = [];
    for (const h of held) this.#answer(h.q, h.req);
    for (const r of this.#rings) if (r.ring.pushResponsesAndCheckNotify()) r.ch.notify();
  }

  /**
   * Writes `rsps` raw into queue `q`'s shared page from response index `from` (one-page ring),
   * sets `rsp_prod` to `rspProd` (default: just past them) and notifies: a lying backend.
   */
  forge(
    q: number,
    from: number,
    rsps: readonly BlkifResponse[],
    rspProd = from + rsps.length,
  ): void {
    const r = this.#rings[q]!;
    const page = r.maps[0]!.page;
    rsps.forEach((x, i) => {
      const at = 64 + 112 * ((from + i) % 32);
      page.setU32(at, Number(x.id) >>> 0);
      page.setU32(at + 4, 0);
      page.setU8(at + 8, x.operation);
      page.setU16(at + 10, x.status & 0xffff);
    });
    page.setU32(8, rspProd >>> 0);
    r.ch.notify();
  }

  #answer(q: number, req: BlkifRequest): void {
    const r = this.#rings[q]!;
    const op = req.kind === "indirect" ? req.indirect_op : req.operation;
    const rsp: BlkifResponse = {
      id: req.kind === "other" ? req.id : req.id,
      operation: op,
      status: this.#execute(req),
    };
    for (const x of this.respond ? this.respond(req, rsp, q) : [rsp]) r.ring.produceResponse(x);
  }

  #execute(req: BlkifRequest): number {
    const { BLKIF_RSP_OKAY: OK, BLKIF_RSP_ERROR: ERR, BLKIF_RSP_EOPNOTSUPP: NOTSUPP } = BLKIF_RSP;
    if (this.#opts.unsupported?.includes(req.operation)) return NOTSUPP;
    if (req.kind === "other") return NOTSUPP;
    if (req.kind === "discard") {
      if (req.sector_number + req.nr_sectors > this.storage.length / 512) return ERR;
      this.storage.fill(0, req.sector_number * 512, (req.sector_number + req.nr_sectors) * 512);
      return OK;
    }
    let seg: readonly BlkifSegment[];
    let op: number;
    if (req.kind === "indirect") {
      const pages = req.indirect_grefs.map((g) => {
        const m = this.#env.mapper.mapOne(g, this.#frontDomid, { readonly: true });
        const bytes = m.page.read(0, 4096);
        m.unmap();
        return bytes;
      });
      const d = decodeIndirectSegments(pages, req.nr_segments);
      if (!d.ok) return ERR;
      seg = d.segments;
      op = req.indirect_op;
    } else {
      if (
        req.operation === BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE ||
        req.operation === BLKIF_OP.BLKIF_OP_WRITE_BARRIER
      )
        return OK;
      seg = req.seg;
      op = req.operation;
    }
    let at = req.sector_number * 512;
    const total = seg.reduce((n, s) => n + (s.last_sect - s.first_sect + 1) * 512, 0);
    if (at + total > this.storage.length) return ERR;
    for (const s of seg) {
      const len = (s.last_sect - s.first_sect + 1) * 512;
      const page = this.#map(s.gref, op === BLKIF_OP.BLKIF_OP_WRITE);
      if (op === BLKIF_OP.BLKIF_OP_WRITE)
        this.storage.set(page.page.read(s.first_sect * 512, len), at);
      else (page.page as Page).write(s.first_sect * 512, this.storage.subarray(at, at + len));
      this.#done(page);
      at += len;
    }
    return OK;
  }

  #map(gref: number, readonly: boolean): MappedGrant<ReadonlyPage | Page> {
    if (this.#usePersistent) {
      let m = this.#persistent.get(gref);
      if (m === undefined)
        this.#persistent.set(gref, (m = this.#env.mapper.mapOne(gref, this.#frontDomid)));
      return m;
    }
    return readonly
      ? this.#env.mapper.mapOne(gref, this.#frontDomid, { readonly: true })
      : this.#env.mapper.mapOne(gref, this.#frontDomid);
  }

  #done(m: MappedGrant<ReadonlyPage | Page>): void {
    if (this.#usePersistent) return;
    if (this.#opts.keepMapped) this.#kept.push(m);
    else m.unmap();
  }

  close(): void {
    this.#sub.unsubscribe();
    this.#disconnect();
    this.#xs.close();
  }
}
