// A small blkfront written by hand for blkback's tests: grants rings and data pages, writes the
// frontend keys as io/blkif.h says (or as a hostile frontend would), pushes requests with the
// SDK's FrontRing and collects responses. Plus the dom0 side: blkback served on a test host.
import type { Page } from "@pvkit/hypervisor-sim";
import { XenbusState } from "@pvkit/hypervisor-sim/abi";
import {
  type EventChannel,
  FrontRing,
  type GrantedPage,
  GrantTableClient,
  GuestPageAllocator,
} from "@pvkit/guest-sdk";
import {
  type DomainHandle,
  type GuestContext,
  type Host,
  LocalXenbusTransport,
} from "@pvkit/toolstack";
import { assertNoGuestLeaks } from "@pvkit/toolstack/testing";
import {
  type BlkbackOptions,
  type BlkifRequest,
  type BlkifResponse,
  type BlkifSegment,
  type ServedBlkback,
  type Storage,
  blkifRingSpec,
  encodeIndirectSegments,
  serveBlkback,
} from "@pvkit/split-drivers";

export const S = XenbusState;

/** How the raw frontend connects. `protocol: null` writes no `protocol` node. */
export interface RawFrontOptions {
  protocol?: string | null;
  order?: number;
  queues?: number;
  persistent?: boolean;
  /** The state written with the keys: Initialised (default) or Connected. */
  state?: number;
  /** Extra keys in the same transaction (relative to the frontend directory). */
  keys?: Record<string, string>;
}

interface Queue {
  ring: FrontRing<BlkifRequest, BlkifResponse>;
  pages: readonly Page[];
  channel: EventChannel;
  pending: Map<string, (r: BlkifResponse) => void>;
  responses: BlkifResponse[];
  entry: number;
}

/** The frontend, running inside the guest. */
export class RawFront {
  readonly queues: Queue[] = [];
  readonly grants: GrantTableClient;
  readonly data: GrantedPage[] = [];
  nextId = 1;

  constructor(
    readonly ctx: GuestContext,
    readonly dir: string,
    readonly backend: string,
  ) {
    this.grants = GrantTableClient.of(ctx.guest, {
      allocator: new GuestPageAllocator(ctx.guest.memory),
    });
    // Teardown as a frontend does it: on the backend's Closing, close the ports, end every
    // grant (deferred while dom0 still maps it, XSA-396) and go Closed; on Closed retry them.
    const sub = ctx.xenbus.watch(`${backend}/state`).subscribe({
      error: () => undefined,
      next: () =>
        void ctx.xenbus
          .read(`${backend}/state`)
          .catch(() => "gone")
          .then(async (v) => {
            if (v === "5" && !this.closed) {
              this.closed = true;
              for (const q of this.queues) q.channel.close();
              for (const g of [...this.ringGrants, ...this.data]) g.end();
              await ctx.xenbus
                .write(`${dir}/state`, String(S.XenbusStateClosed))
                .catch(() => undefined);
            } else if (v === "6" || v === "gone") {
              this.grants.retryDeferred();
              if (this.closed) sub.unsubscribe();
            }
          }),
    });
  }

  closed = false;
  readonly ringGrants: GrantedPage[] = [];

  /** Grants rings and ports, writes the keys and the state in one transaction. */
  async publish(o: RawFrontOptions = {}): Promise<void> {
    const protocol = o.protocol === undefined ? "x86_64-abi" : o.protocol;
    const spec = blkifRingSpec(
      protocol === "x86_32-abi" || protocol === null ? "x86_32-abi" : "x86_64-abi",
    );
    const order = o.order ?? 0;
    const nq = o.queues ?? 1;
    const keys: Record<string, string> = {};
    for (let q = 0; q < nq; q++) {
      const granted = [...Array(1 << order)].map(() => this.grants.grantPage(0));
      this.ringGrants.push(...granted);
      const ring = FrontRing.init(
        granted.map((g) => g.page),
        spec,
      );
      const queue: Queue = {
        ring,
        pages: granted.map((g) => g.page),
        channel: undefined!,
        pending: new Map(),
        responses: [],
        entry: spec.entrySize ?? spec.request.size,
      };
      queue.channel = this.ctx.events.bindUnbound(0, { onEvent: () => this.#drain(queue) });
      this.queues.push(queue);
      const pre = nq === 1 ? "" : `queue-${q}/`;
      if (order === 0) keys[`${pre}ring-ref`] = String(granted[0]!.ref);
      else granted.forEach((g, i) => void (keys[`${pre}ring-ref${i}`] = String(g.ref)));
      keys[`${pre}event-channel`] = String(queue.channel.port);
    }
    if (order > 0) keys["ring-page-order"] = String(order);
    if (nq > 1) keys["multi-queue-num-queues"] = String(nq);
    if (protocol !== null) keys["protocol"] = protocol;
    keys["feature-persistent"] = o.persistent ? "1" : "0";
    Object.assign(keys, o.keys ?? {});
    await this.ctx.xenbus.transaction(async (tx) => {
      for (const [k, v] of Object.entries(keys)) await tx.write(`${this.dir}/${k}`, v);
      if (protocol === null) await tx.rm(`${this.dir}/protocol`); // the toolstack wrote one
      await tx.write(`${this.dir}/state`, String(o.state ?? S.XenbusStateInitialised));
    });
  }

  /** A data page granted to dom0, optionally filled. */
  page(fill?: (p: Page) => void): GrantedPage {
    const g = this.grants.grantPage(0);
    fill?.(g.page);
    this.data.push(g);
    return g;
  }

  /** Indirect pages holding `segments`, granted read-only. */
  indirectPages(segments: readonly BlkifSegment[]): GrantedPage[] {
    return encodeIndirectSegments(segments).map((bytes) => this.page((p) => p.write(0, bytes)));
  }

  /** Produces `req` (its id replaced by a fresh one unless given), pushes, notifies; resolves with its response. */
  submit(req: BlkifRequest, q = 0): Promise<BlkifResponse> {
    const queue = this.queues[q]!;
    const done = new Promise<BlkifResponse>((resolve) =>
      queue.pending.set(String(req.id), resolve),
    );
    queue.ring.produceRequest(req);
    if (queue.ring.pushRequestsAndCheckNotify()) queue.channel.notify();
    return done;
  }

  /** The ring slot byte offset (in page 0 of a one-page ring) of the last request produced on queue `q`. */
  lastSlot(q = 0): number {
    const queue = this.queues[q]!;
    return 64 + ((queue.ring.reqProdPvt - 1) & (queue.ring.size - 1)) * queue.entry;
  }

  #drain(queue: Queue): void {
    do {
      for (
        let rsp = queue.ring.consumeResponse();
        rsp !== undefined;
        rsp = queue.ring.consumeResponse()
      ) {
        queue.responses.push(rsp);
        const k = String(rsp.id);
        queue.pending.get(k)?.(rsp);
        queue.pending.delete(k);
      }
    } while (queue.ring.finalCheckForResponses());
  }
}

/** A request helper: read or write of `segments` at `sector`. */
export function rw(
  op: 0 | 1 | 2 | 3,
  id: number,
  sector: number,
  seg: BlkifSegment[],
): BlkifRequest {
  return {
    kind: "rw",
    operation: op,
    nr_segments: seg.length,
    handle: 51712,
    id,
    sector_number: sector,
    seg,
  };
}

/** A whole-page segment of `g`. */
export function whole(g: GrantedPage, first = 0, last = 7): BlkifSegment {
  return { gref: g.ref, first_sect: first, last_sect: last };
}

/** A test-host scenario: blkback in dom0, one domU with one vbd whose frontend is raw. */
export interface Rig {
  h: Host;
  served: ServedBlkback;
  dom: DomainHandle;
  front: RawFront;
  /** The backend directory. */
  be: string;
  xs: LocalXenbusTransport;
  read(path: string): Promise<string | undefined>;
  /** Waits for the backend's state to be `state`. */
  backendState(state: number): Promise<void>;
  /** Destroys the domU, stops blkback, checks every domain for leaks. */
  finish(): Promise<void>;
}

/** Boots the rig; the frontend publishes with `fo` unless `fo` is false. */
export async function rig(
  h: Host,
  opts: {
    storage: (dev: unknown) => Storage | Promise<Storage>;
    back?: BlkbackOptions;
    vbd?: Record<string, unknown>;
    fo?: RawFrontOptions | false;
    memory?: number;
  },
): Promise<Rig> {
  const xs = LocalXenbusTransport.open(h);
  const served = serveBlkback(h, { ...(opts.back ?? {}), xs, storage: opts.storage });
  let started!: (f: RawFront) => void;
  const ready = new Promise<RawFront>((r) => (started = r));
  const dom = await h.createDomain({
    name: "raw-front",
    ...(opts.memory !== undefined ? { memory: opts.memory } : {}),
    devices: [{ kind: "vbd", vdev: "xvda", ...(opts.vbd ?? {}) } as never],
    main: async (ctx) => {
      const dir = "device/vbd/51712";
      const backend = (await ctx.xenbus.read(`${dir}/backend`))!;
      started(new RawFront(ctx, dir, backend));
    },
  });
  const front = await h.until(ready, "the raw frontend starting");
  const be = front.backend;
  const read = async (p: string): Promise<string | undefined> => {
    try {
      return await xs.read(p);
    } catch {
      return undefined;
    }
  };
  const r: Rig = {
    h,
    served,
    dom,
    front,
    be,
    xs,
    read,
    async backendState(state) {
      await h.until(served.registration.waitFor(51712, state, dom.domid), `backend state ${state}`);
    },
    async finish() {
      await h.until(h.destroyDomain(dom.domid), "destroying the domU");
      await h.until(served.close(), "blkback closing");
      await h.hv.settle();
      assertNoGuestLeaks(h);
      xs.close();
      const errors = served.bus.errors;
      if (errors.length > 0) throw new Error(`framework errors: ${errors.map(String).join("; ")}`);
    },
  };
  await r.backendState(S.XenbusStateInitWait);
  if (opts.fo !== false) await h.until(front.publish(opts.fo ?? {}), "the raw frontend publishing");
  return r;
}
