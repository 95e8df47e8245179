// A scripted stand-in for xenstored, so the client's ring handling can be tested against
// replies a real xenstored never sends (out of order, split at will, bad types). It reads the
// guest's request ring and writes its response ring directly, and notifies the guest through a
// dom0 port bound to the guest's store port. End-to-end tests against the real xenstored live in
// @pvkit/toolstack (test/xenstored/xenbus-e2e.test.ts), since toolstack depends on this package.
import { Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import { encodeXsMessage, XS, type XsMessage, XsMessageParser } from "@pvkit/hypervisor-sim/abi";
import {
  ByteRingReader,
  ByteRingWriter,
  EventChannels,
  xenstoreRequestRing,
  xenstoreResponseRing,
  type EventChannel,
} from "@pvkit/guest-sdk";
import { evtchnBindInterdomain, evtchnSend } from "@pvkit/guest-sdk/hypercall";

export const STORE_GFN = 3;

export function scriptedPeer() {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain({ name: "dom0" });
  const du = hv.createDomain({ nrPages: 8 });
  const g0 = hv.guest(0);
  const gu = hv.guest(du.domid);
  const evu = EventChannels.of(gu);
  const channel: EventChannel = evu.bindUnbound(0);
  const port0 = evtchnBindInterdomain(g0.hypercall, du.domid, channel.port);
  const page: Page = gu.memory.writablePage(STORE_GFN);
  const req = new ByteRingReader(page, xenstoreRequestRing);
  const rsp = new ByteRingWriter(page, xenstoreResponseRing);
  const assembler = new XsMessageParser();
  let out = new Uint8Array(0);

  const peer = {
    hv,
    gu,
    evu,
    channel,
    page,
    /** Runs the hypervisor and lets promise continuations settle. */
    settle: () => hv.settle(),
    /** Every complete request the guest has written so far (consumes the ring, notifies). */
    takeRequests(): XsMessage[] {
      const bytes = req.read();
      if (bytes.length > 0) evtchnSend(g0.hypercall, port0);
      assembler.push(bytes);
      const got: XsMessage[] = [];
      for (let m = assembler.next(); m !== undefined; m = assembler.next()) {
        if (typeof m === "symbol") throw new Error("oversize request");
        got.push(m);
      }
      return got;
    },
    /** Queues raw bytes for the response ring and writes as much as fits now. */
    sendBytes(bytes: Uint8Array): void {
      const all = new Uint8Array(out.length + bytes.length);
      all.set(out);
      all.set(bytes, out.length);
      out = all;
      peer.flush();
    },
    /** Queues a reply (or event) message. */
    send(type: number, req_id: number, payload: string | Uint8Array, tx_id = 0): void {
      const p =
        typeof payload === "string" ? new Uint8Array(Buffer.from(payload, "latin1")) : payload;
      peer.sendBytes(encodeXsMessage({ type, req_id, tx_id, payload: p }));
    },
    /** Replies to `m` with `payload` (same type, req_id and tx_id). */
    reply(m: XsMessage, payload: string | Uint8Array): void {
      peer.send(m.type, m.req_id, payload, m.tx_id);
    },
    /** Replies to `m` with XS_ERROR `name`. */
    error(m: XsMessage, name: string): void {
      peer.send(XS.XS_ERROR, m.req_id, `${name}\0`, m.tx_id);
    },
    /** Writes queued response bytes as far as rsp has room, and notifies. Returns bytes left. */
    flush(): number {
      const n = rsp.write(out);
      out = out.slice(n);
      if (n > 0) evtchnSend(g0.hypercall, port0);
      return out.length;
    },
    /** Bytes queued and not yet written. */
    get queued(): number {
      return out.length;
    },
    notify(): void {
      evtchnSend(g0.hypercall, port0);
    },
  };
  return peer;
}

export const text = (m: XsMessage): string => Buffer.from(m.payload).toString("latin1");
