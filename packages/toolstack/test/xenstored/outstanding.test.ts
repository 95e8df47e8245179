// XSA-326 accounting of watch events (cxenstored 4.17): a request stays outstanding for the
// domain that sent it until its reply and every watch event it caused have been written (or
// dropped), so a writer whose events a watcher does not read is throttled at 20 outstanding
// requests; events queued for an unprivileged domain time out after 20 s of virtual time.
import { describe, expect, it } from "vitest";
import { encodeXsMessage, xenstore_domain_interface, XS } from "@pvkit/hypervisor-sim/abi";
import { Xenstored, decodeWatchEvent } from "@pvkit/toolstack";
import { messages, ringHost, run, str, type RingGuest } from "./ring-fixture.js";

const F = xenstore_domain_interface;
/** Bytes of the response ring. */
const RING = 1024;
/** Every watch event in these tests is this long, so that exactly 8 fill a watcher's ring. */
const EVENT_BYTES = 128;
/** WRITE requests the writer queues at once (40 × 25 bytes fit its 1024-byte request ring). */
const N = 40;
const LIMIT = 20;
const S = 1_000_000_000;

const key = (k: number) => `data/${String(k).padStart(2, "0")}`;

/** Bytes the guest wrote to its request ring that xenstored has not read. */
function unread(g: RingGuest): number {
  return (g.page.getU32(F.req_prod[0]) - g.page.getU32(F.req_cons[0])) >>> 0;
}

/**
 * dom0 gives the writer `/local/domain/<w>/data`, readable by `readers`; the writer then queues
 * N WRITEs of new nodes below it (nothing is processed before `run`).
 */
function writerSetup(opts: { watcher: "guest" | "dom0"; watchEventTimeoutMs?: number }) {
  const { watcher, ...hostOpts } = opts;
  const host = ringHost(hostOpts);
  const { dom0, addGuest } = host;
  const w = addGuest();
  const b = watcher === "guest" ? addGuest() : undefined;
  const dir = `/local/domain/${w.domid}/data`;
  dom0.mkdir(dir);
  dom0.setPerms(dir, [`n${w.domid}`, ...(b ? [`r${b.domid}`] : [])]);
  const eventPath = (k: number) => `/local/domain/${w.domid}/${key(k)}`;
  // A token making each event (header + path + NUL + token + NUL) exactly EVENT_BYTES long.
  const token = "t".repeat(EVENT_BYTES - 16 - eventPath(0).length - 2);
  if (b) {
    b.request(XS.XS_WATCH, `${dir}\0${token}\0`);
    run(host.hv);
    expect(messages(b.drain()).map((m) => m.type)).toEqual([XS.XS_WATCH, XS.XS_WATCH_EVENT]);
  } else {
    dom0.watch(dir, token);
    expect(dom0.takeEvents()).toHaveLength(1);
  }
  const sendWrites = () => {
    for (let k = 0; k < N; k++) w.req.write(enc(XS.XS_WRITE, `${key(k)}\0v`, k));
    w.send(new Uint8Array(0));
  };
  return { ...host, w, b, eventPath, sendWrites };
}

const enc = (type: number, payload: string, req_id = 0): Uint8Array =>
  encodeXsMessage({
    type,
    req_id,
    tx_id: 0,
    payload: new Uint8Array(Buffer.from(payload, "latin1")),
  });

/** Event paths in whole messages of `bytes`. */
const eventPaths = (bytes: Uint8Array) =>
  messages(bytes)
    .filter((m) => m.type === XS.XS_WATCH_EVENT)
    .map((m) => decodeWatchEvent(m.payload).path);

describe("outstanding requests include the watch events they caused (XSA-326)", () => {
  it("keeps a writer's requests outstanding while a guest watcher does not read, stops at 20, resumes as it reads", () => {
    const { hv, dom0, w, b, sendWrites, eventPath } = writerSetup({ watcher: "guest" });
    sendWrites();
    run(hv);
    const fit = RING / EVENT_BYTES; // events the watcher's ring takes before they queue
    expect(w.transport.outstanding).toBe(LIMIT);
    expect(w.transport.queuedBytes).toBe(0); // every reply is in the writer's ring
    const quota = Buffer.from(dom0.request(XS.XS_CONTROL, `quota\0${w.domid}\0`)).toString(
      "latin1",
    );
    expect(quota).toContain(`outstanding     : ${String(LIMIT).padStart(8)}`);
    expect(w.transport.requestsHandled).toBe(fit + LIMIT);
    expect(unread(w)).toBe((N - fit - LIMIT) * 25);
    // Consuming its own replies does not help the writer: its events are what is pending.
    expect(messages(w.drain())).toHaveLength(fit + LIMIT);
    run(hv);
    expect(w.transport.requestsHandled).toBe(fit + LIMIT);
    expect(w.transport.outstanding).toBe(LIMIT);
    // The watcher reads: each event written releases one request, and the writer reads on.
    const seen: string[] = [];
    for (let round = 0; round < 20 && seen.length < N; round++) {
      seen.push(...eventPaths(b!.drain()));
      run(hv);
      w.drain();
    }
    expect(seen).toEqual([...Array(N).keys()].map(eventPath));
    expect(w.transport.requestsHandled).toBe(N);
    expect(w.transport.outstanding).toBe(0);
  });

  it("times out an unread guest watcher's events after 20 s of virtual time and the writer resumes", () => {
    const { hv, w, b, sendWrites, eventPath } = writerSetup({ watcher: "guest" });
    sendWrites();
    run(hv);
    const fit = RING / EVENT_BYTES;
    expect(w.transport.outstanding).toBe(LIMIT);
    hv.advance(20 * S - 1);
    expect(w.transport.outstanding).toBe(LIMIT);
    expect(w.transport.requestsHandled).toBe(fit + LIMIT);
    hv.advance(1);
    // The 20 queued events are dropped; the writer's 12 last requests queue 12 new ones.
    expect(w.transport.requestsHandled).toBe(N);
    expect(w.transport.outstanding).toBe(N - fit - LIMIT);
    expect(b!.transport.queuedBytes).toBe((N - fit - LIMIT) * EVENT_BYTES);
    hv.advance(20 * S);
    expect(w.transport.outstanding).toBe(0);
    expect(b!.transport.queuedBytes).toBe(0);
    // The watcher only ever gets the events that were already in its ring.
    expect(eventPaths(b!.drain())).toEqual([...Array(fit).keys()].map(eventPath));
    run(hv);
    expect(b!.drain()).toHaveLength(0);
  });

  it("never times out the events of a privileged watcher (dom0)", () => {
    const { hv, dom0, w, sendWrites, eventPath } = writerSetup({ watcher: "dom0" });
    sendWrites();
    run(hv);
    expect(w.transport.outstanding).toBe(LIMIT);
    expect(w.transport.requestsHandled).toBe(LIMIT);
    hv.advance(600 * S);
    expect(w.transport.outstanding).toBe(LIMIT);
    expect(w.transport.requestsHandled).toBe(LIMIT);
    expect(dom0.conn.pending).toHaveLength(LIMIT);
    // dom0 reads its 20 events: the writer goes on and is throttled again by the next 20.
    const seen = dom0.pollEvents().map((e) => e.path);
    run(hv);
    expect(w.transport.requestsHandled).toBe(N);
    expect(w.transport.outstanding).toBe(N - LIMIT);
    seen.push(...dom0.pollEvents().map((e) => e.path));
    expect(w.transport.outstanding).toBe(0);
    expect(seen).toEqual([...Array(N).keys()].map(eventPath));
  });

  it("releases the writer's outstanding requests when the watcher's connection goes away", () => {
    const { hv, dom0, w, b, sendWrites } = writerSetup({ watcher: "guest" });
    sendWrites();
    run(hv);
    expect(w.transport.outstanding).toBe(LIMIT);
    dom0.release(b!.domid);
    expect(w.transport.outstanding).toBe(0);
    run(hv);
    expect(w.transport.requestsHandled).toBe(N);
    expect(w.transport.outstanding).toBe(0);
    expect(unread(w)).toBe(0);
  });

  it("drops an event identical to one still queued for a guest's ring; the dropped one holds nothing", () => {
    const { hv, w, b, eventPath } = writerSetup({ watcher: "guest" });
    const fit = RING / EVENT_BYTES;
    for (let k = 0; k < fit; k++) w.req.write(enc(XS.XS_WRITE, `${key(k)}\0v`, k));
    w.req.write(enc(XS.XS_WRITE, `${key(fit)}\0v`, fit));
    w.req.write(enc(XS.XS_WRITE, `${key(fit)}\0w`, fit + 1));
    w.send(new Uint8Array(0));
    run(hv);
    expect(w.transport.requestsHandled).toBe(fit + 2);
    // The watcher's ring is full: one event for the node waits; the second write's is dropped.
    expect(b!.transport.queuedBytes).toBe(EVENT_BYTES);
    expect(w.transport.outstanding).toBe(1);
    const seen = eventPaths(b!.drain());
    run(hv);
    seen.push(...eventPaths(b!.drain()));
    expect(seen).toEqual([...Array(fit + 1).keys()].map(eventPath));
    expect(w.transport.outstanding).toBe(0);
  });

  // 4.17 do_watch: "This event will not be linked to the XS_WATCH request."
  it("does not count a WATCH as outstanding for its initial event once its reply is written", () => {
    const { hv, dom0, addGuest } = ringHost();
    const u = addGuest();
    // A READ reply and the WATCH reply fill the response ring exactly; the event must wait.
    const value = "x".repeat(RING - (16 + 3) - 16);
    dom0.write(`/local/domain/${u.domid}/big`, value);
    dom0.setPerms(`/local/domain/${u.domid}/big`, [`r${u.domid}`]);
    u.req.write(enc(XS.XS_READ, "big\0", 1));
    u.req.write(enc(XS.XS_WATCH, "w\0tok\0", 2));
    u.send(new Uint8Array(0));
    run(hv);
    expect(u.transport.requestsHandled).toBe(2);
    expect(u.transport.queuedBytes).toBe(16 + "w\0tok\0".length);
    // Both replies are in the ring; the initial event still waiting is caused by nothing.
    expect(u.transport.outstanding).toBe(0);
    const first = messages(u.drain());
    expect(first.map((m) => [m.type, m.req_id])).toEqual([
      [XS.XS_READ, 1],
      [XS.XS_WATCH, 2],
    ]);
    run(hv);
    expect(u.transport.outstanding).toBe(0);
    const [ev] = messages(u.drain());
    expect(ev?.type).toBe(XS.XS_WATCH_EVENT);
    expect(str(ev)).toBe("w\0tok\0");
  });
});

describe("watch-event timeout setting (-w watch-event)", () => {
  it("uses watchEventTimeoutMs as the timeout, and 0 never times out", () => {
    const short = writerSetup({ watcher: "guest", watchEventTimeoutMs: 1000 });
    short.sendWrites();
    run(short.hv);
    short.hv.advance(S - 1);
    expect(short.w.transport.outstanding).toBe(LIMIT);
    short.hv.advance(1);
    expect(short.w.transport.requestsHandled).toBe(N);

    const never = writerSetup({ watcher: "guest", watchEventTimeoutMs: 0 });
    never.sendWrites();
    run(never.hv);
    never.hv.advance(3600 * S);
    expect(never.w.transport.outstanding).toBe(LIMIT);
    expect(never.hv.scheduler.queued).toBe(0); // no timer was armed
  });

  it("rejects a negative or fractional timeout with a RangeError", () => {
    expect(() => new Xenstored({ watchEventTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => new Xenstored({ watchEventTimeoutMs: 0.5 })).toThrow(RangeError);
  });
});
