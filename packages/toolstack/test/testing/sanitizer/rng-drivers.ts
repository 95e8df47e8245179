// A small paravirtual RNG on the xenbus framework (the pattern of examples/pvrng), with switches
// that break it one way each, for the sanitizer's tests. The toolstack cannot depend on the
// examples, so the driver lives here.
import type { Page } from "@pvkit/hypervisor-sim";
import {
  BackRing,
  type BackendDriver,
  type EventChannel,
  type FrontendDriver,
  FrontRing,
  type RingSpec,
  type XenbusDevice,
} from "@pvkit/guest-sdk";

export interface RngRequest {
  id: number;
  gref: number;
  len: number;
}
export interface RngResponse {
  id: number;
  status: number;
  len: number;
}
export const TYPE = "rng";

export const rngSpec: RingSpec<RngRequest, RngResponse> = {
  request: {
    size: 12,
    encode: (v, o) => (o.setU32(0, v.id), o.setU32(4, v.gref), o.setU16(8, v.len)),
    decode: (i) => ({ id: i.getU32(0), gref: i.getU32(4), len: i.getU16(8) }),
  },
  response: {
    size: 8,
    encode: (v, o) => (o.setU32(0, v.id), o.setS16(4, v.status), o.setU16(6, v.len)),
    decode: (i) => ({ id: i.getU32(0), status: i.getS16(4), len: i.getU16(6) }),
  },
};

/**
 * The same protocol with the response's id last (offset 4) instead of first: a response
 * written over its request's slot then no longer has the id where the request had it, so
 * reading requests back from answered slots would misread them.
 */
export const rngSpecIdLast: RingSpec<RngRequest, RngResponse> = {
  request: rngSpec.request,
  response: {
    size: 8,
    encode: (v, o) => (o.setS16(0, v.status), o.setU16(2, v.len), o.setU32(4, v.id)),
    decode: (i) => ({ status: i.getS16(0), len: i.getU16(2), id: i.getU32(4) }),
  },
};

/** The ways a frontend can be broken. */
export interface FrontBugs {
  leakGrant?: boolean;
  rawRingGrant?: boolean;
  leakPort?: boolean;
  leakWatch?: boolean;
  skipNotify?: boolean;
  skipFinalCheck?: boolean;
  notifyEvery?: boolean;
}
/** The ways a backend can be broken. */
export interface BackBugs {
  rawRingMap?: boolean;
  skipNotify?: boolean;
  skipFinalCheck?: boolean;
  shortCopy?: boolean;
  bogusId?: boolean;
}

export interface FrontState {
  ring: FrontRing<RngRequest, RngResponse>;
  channel: EventChannel;
  pending: Map<number, (r: RngResponse) => void>;
  nextId: number;
  bugs: FrontBugs;
}

export function rngFront(bugs: FrontBugs = {}, spec = rngSpec): FrontendDriver<FrontState> {
  return {
    type: TYPE,
    async initialise(dev) {
      let pages: readonly Page[];
      let keys: Record<string, string | number>;
      if (bugs.rawRingGrant) {
        const g = dev.env.grants.grantPage(dev.otherendId);
        [pages, keys] = [[g.page], { "ring-ref": g.ref }];
      } else {
        const granted = dev.grantRing(0);
        [pages, keys] = [granted.pages, granted.keys];
      }
      const ring = FrontRing.init(pages, spec, { name: "rng ring" });
      const s: FrontState = { ring, channel: undefined!, pending: new Map(), nextId: 1, bugs };
      s.channel = dev.allocEvtchn({ onEvent: () => onResponses(s) });
      dev.data = s;
      if (bugs.leakGrant) dev.env.grants.grantPage(dev.otherendId);
      if (bugs.leakPort) dev.env.events.bindUnbound(dev.otherendId);
      if (bugs.leakWatch)
        dev.env.xs.watch(`${dev.otherend}/feature-x`).subscribe({ error: () => undefined });
      await dev.writeKeys({ ...keys, "event-channel": s.channel.port });
    },
    connect() {},
    disconnect(dev) {
      for (const done of dev.data?.pending.values() ?? []) done({ id: 0, status: -5, len: 0 });
    },
  };
}

function onResponses(s: FrontState): void {
  do {
    for (let rsp = s.ring.consumeResponse(); rsp !== undefined; rsp = s.ring.consumeResponse()) {
      s.pending.get(rsp.id)?.(rsp);
      s.pending.delete(rsp.id);
    }
  } while (!s.bugs.skipFinalCheck && s.ring.finalCheckForResponses());
}

/** `n` bytes from the backend. */
export async function read(dev: XenbusDevice<FrontState>, n: number): Promise<Uint8Array> {
  const s = dev.data!;
  const page = dev.grantPage();
  const id = s.nextId++;
  const rsp = new Promise<RngResponse>((resolve) => s.pending.set(id, resolve));
  s.ring.produceRequest({ id, gref: page.ref, len: n });
  const notify = s.ring.pushRequestsAndCheckNotify();
  if (s.bugs.notifyEvery || (notify && !s.bugs.skipNotify)) s.channel.notify();
  const r = await rsp;
  const bytes = page.page.read(0, r.len);
  page.end();
  return bytes;
}

export interface BackState {
  ring: BackRing<RngRequest, RngResponse>;
  channel: EventChannel;
}

export function rngBack(bugs: BackBugs = {}, spec = rngSpec): BackendDriver<BackState> {
  return {
    type: TYPE,
    async connect(dev) {
      let pages: readonly Page[];
      if (bugs.rawRingMap)
        pages = dev.env.mapper
          .map([await dev.otherInt("ring-ref")], dev.otherendId)
          .map((m) => m.page);
      else pages = (await dev.mapRing()).pages;
      const ring = BackRing.attach(pages, spec, 0, { name: "rng ring" });
      let byte = 0;
      const channel = await dev.bindEvtchn({
        onEvent: () => {
          do {
            for (let req = ring.consumeRequest(); req !== undefined; req = ring.consumeRequest()) {
              const [m] = dev.env.mapper.map([req.gref], dev.otherendId);
              const len = bugs.shortCopy ? req.len - 1 : req.len;
              for (let i = 0; i < len; i++) m!.page.setU8(i, byte++ & 0xff);
              m!.unmap();
              ring.produceResponse({ id: bugs.bogusId ? req.id + 1000 : req.id, status: 0, len });
            }
            if (ring.pushResponsesAndCheckNotify() && !bugs.skipNotify) channel.notify();
          } while (!bugs.skipFinalCheck && ring.finalCheckForRequests());
        },
      });
      dev.data = { ring, channel };
    },
  };
}
