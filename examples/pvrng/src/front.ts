/**
 * The pvrng frontend: one ring page and one event channel per device; `read(n)` grants a page,
 * asks the backend to fill `n` bytes of it, and resolves with them. Everything else — probing,
 * the XenbusState walk, ending grants and closing the port on disconnect — is the framework's.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import {
  type EventChannel,
  type FrontendDriver,
  FrontRing,
  type XenbusDevice,
} from "@pvkit/guest-sdk";
import { MAX_LEN, type RngRequest, type RngResponse, TYPE, rngSpec } from "./protocol.js";

/** What the frontend keeps per device. */
export interface FrontState {
  ring: FrontRing<RngRequest, RngResponse>;
  page: Page;
  channel: EventChannel;
  pending: Map<number, (rsp: RngResponse) => void>;
  nextId: number;
}

/** The driver. */
export const pvrngFront: FrontendDriver<FrontState> = {
  type: TYPE,
  async initialise(dev) {
    const granted = dev.grantRing(0);
    const ring = FrontRing.init(granted.pages, rngSpec, { name: "pvrng ring" });
    const state: FrontState = {
      ring,
      page: granted.pages[0]!,
      channel: undefined!,
      pending: new Map(),
      nextId: 1,
    };
    state.channel = dev.allocEvtchn({ onEvent: () => onResponses(state) });
    dev.data = state;
    await dev.writeKeys({ ...granted.keys, "event-channel": state.channel.port });
  },
  connect() {},
  disconnect(dev) {
    for (const done of dev.data?.pending.values() ?? []) done({ id: 0, status: -5, len: 0 });
  },
};

function onResponses(s: FrontState): void {
  do {
    for (let rsp = s.ring.consumeResponse(); rsp !== undefined; rsp = s.ring.consumeResponse()) {
      s.pending.get(rsp.id)?.(rsp);
      s.pending.delete(rsp.id);
    }
  } while (s.ring.finalCheckForResponses());
}

/**
 * `n` random bytes (1..4096) from the backend of a connected device.
 * @throws RangeError for a bad `n` or a full ring; Error if the backend refused or went away.
 */
export async function read(dev: XenbusDevice<FrontState>, n: number): Promise<Uint8Array> {
  const s = dev.data;
  if (s === undefined) throw new Error(`${dev.nodename} is not connected`);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LEN)
    throw new RangeError(`read 1..${MAX_LEN} bytes, not ${n}`);
  if (s.ring.full) throw new RangeError("pvrng ring full");
  const page = dev.grantPage();
  const id = s.nextId++;
  const rsp = new Promise<RngResponse>((resolve) => s.pending.set(id, resolve));
  s.ring.produceRequest({ id, gref: page.ref, len: n });
  if (s.ring.pushRequestsAndCheckNotify()) s.channel.notify();
  const r = await rsp;
  const bytes = page.page.read(0, r.len);
  page.end();
  if (r.status !== 0) throw new Error(`pvrng: backend answered status ${r.status}`);
  return bytes;
}
