/**
 * The upcase frontend: one ring page and one event channel per device. `shout(dev, text)`
 * grants a page holding the text, asks the backend to upper-case it, and resolves with the
 * result. Probing, the XenbusState walk and the teardown are the framework's.
 */
import { type EventChannel, type FrontendDriver, FrontRing, type XenbusDevice } from "@pvkit/guest-sdk";
import { MAX_LEN, TYPE, type UpcaseRequest, type UpcaseResponse, upcaseSpec } from "./protocol.js";

/** What the frontend keeps per device (`dev.data`). */
export interface FrontState {
  ring: FrontRing<UpcaseRequest, UpcaseResponse>;
  channel: EventChannel;
  pending: Map<number, (rsp: UpcaseResponse) => void>;
  nextId: number;
}

/** The frontend driver: register it on the guest's bus. */
export const upcaseFront: FrontendDriver<FrontState> = {
  type: TYPE,
  async initialise(dev) {
    const granted = dev.grantRing(0); // a zeroed page, granted to the backend, ended on disconnect
    const ring = FrontRing.init(granted.pages, upcaseSpec, { name: "upcase ring" });
    const state: FrontState = { ring, channel: undefined!, pending: new Map(), nextId: 1 };
    state.channel = dev.allocEvtchn({ onEvent: () => onResponses(state) });
    dev.data = state;
    await dev.writeKeys({ ...granted.keys, "event-channel": state.channel.port });
  },
  connect() {},
  disconnect(dev) {
    for (const done of dev.data?.pending.values() ?? []) done({ id: 0, status: -5, len: 0 }); // -EIO
  },
};

function onResponses(s: FrontState): void {
  do {
    for (let rsp = s.ring.consumeResponse(); rsp !== undefined; rsp = s.ring.consumeResponse()) {
      s.pending.get(rsp.id)?.(rsp);
      s.pending.delete(rsp.id);
    }
  } while (s.ring.finalCheckForResponses()); // re-arm rsp_event, then look again
}

/**
 * `text` with its ASCII letters upper-cased by the backend of a connected device.
 * @throws RangeError for text of 0 or more than 4096 UTF-8 bytes, or a full ring; Error if the
 * backend answered an error status or went away.
 */
export async function shout(dev: XenbusDevice<FrontState>, text: string): Promise<string> {
  const s = dev.data;
  if (s === undefined) throw new Error(`${dev.nodename} is not connected`);
  const bytes = new TextEncoder().encode(text);
  if (bytes.length < 1 || bytes.length > MAX_LEN) throw new RangeError(`text of 1..${MAX_LEN} bytes, not ${bytes.length}`);
  if (s.ring.full) throw new RangeError("upcase ring full");
  const data = dev.grantPage(); // writable: the backend answers in place
  data.page.write(0, bytes);
  const id = s.nextId++;
  const answered = new Promise<UpcaseResponse>((resolve) => s.pending.set(id, resolve));
  s.ring.produceRequest({ id, gref: data.ref, len: bytes.length });
  if (s.ring.pushRequestsAndCheckNotify()) s.channel.notify(); // only when the backend asked to be woken
  const rsp = await answered;
  const out = data.page.read(0, rsp.len);
  data.end();
  if (rsp.status !== 0) throw new Error(`upcase: backend answered status ${rsp.status}`);
  return new TextDecoder().decode(out);
}
