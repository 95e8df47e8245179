// The client's ring handling against a scripted xenstored: req_id matching, replies split
// across the ring and its 2^32 wrap, and failures that must reject instead of hanging.
import { describe, expect, it } from "vitest";
import {
  encodeXsMessage,
  xenstore_domain_interface,
  XENSTORE_ERROR,
  XS,
} from "@pvkit/hypervisor-sim/abi";
import { XenError, XenbusClient, XenbusError } from "@pvkit/guest-sdk";
import { scriptedPeer, text } from "./scripted-peer.js";

const F = xenstore_domain_interface;

/** Marks `p` handled now (it may reject while the test is still driving the hypervisor). */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

async function rejection(p: Promise<unknown>): Promise<XenbusError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(XenbusError);
    expect(e).toBeInstanceOf(XenError);
    return e as XenbusError;
  }
  throw new Error("expected a rejection");
}

describe("XenbusClient over a scripted peer: request ids", () => {
  it("writes requests with distinct req_ids and matches replies by id, in any order", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const a = xs.read("a");
    const b = quiet(xs.read("b"));
    const c = xs.read("c");
    expect(xs.inFlight).toBe(3);
    await peer.settle();
    const reqs = peer.takeRequests();
    expect(reqs.map((m) => [m.type, text(m)])).toEqual([
      [XS.XS_READ, "a\0"],
      [XS.XS_READ, "b\0"],
      [XS.XS_READ, "c\0"],
    ]);
    expect(new Set(reqs.map((m) => m.req_id)).size).toBe(3);
    // Reverse order, with a watch event and an unknown id in between.
    peer.reply(reqs[2]!, "C");
    peer.send(XS.XS_WATCH_EVENT, 0, "x\0tok\0");
    peer.send(XS.XS_READ, 0xdead, "stray");
    peer.reply(reqs[0]!, "A");
    peer.error(reqs[1]!, "ENOENT");
    await peer.settle();
    expect(await a).toBe("A");
    expect(await c).toBe("C");
    const e = await rejection(b);
    expect([e.code, e.reason, e.path, e.op]).toEqual(["ENOENT", "error-reply", "b", "XS_READ"]);
    expect(xs.inFlight).toBe(0);
  });

  it("rejects only the request whose reply has the wrong type (protocol)", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const a = quiet(xs.read("a"));
    const b = quiet(xs.mkdir("b"));
    await peer.settle();
    const [ra, rb] = peer.takeRequests();
    peer.send(XS.XS_WRITE, ra!.req_id, "OK\0");
    peer.reply(rb!, "OK\0");
    await peer.settle();
    const e = await rejection(a);
    expect([e.code, e.reason]).toEqual(["EIO", "protocol"]);
    await expect(b).resolves.toBeUndefined();
  });

  it("maps an error name Xen does not define to EINVAL and keeps the name", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const w = quiet(xs.write("k", "v"));
    await peer.settle();
    peer.error(peer.takeRequests()[0]!, "EQUOTA");
    await peer.settle();
    const e = await rejection(w);
    expect([e.code, e.serverName, e.path]).toEqual(["EINVAL", "EQUOTA", "k"]);
  });
});

describe("XenbusClient over a scripted peer: ring flow", () => {
  it("assembles a reply delivered in pieces across the 2^32 index wrap", async () => {
    const peer = scriptedPeer();
    for (const k of ["req_cons", "req_prod", "rsp_cons", "rsp_prod"] as const)
      peer.page.setU32(F[k][0], 0xfffffc00);
    const xs = new XenbusClient(peer.page, peer.channel);
    const value = Uint8Array.from({ length: 4000 }, (_, i) => (i * 7) & 0xff);
    const r = xs.readBytes("big");
    await peer.settle();
    peer.reply(peer.takeRequests()[0]!, value);
    let rounds = 0;
    while (peer.queued > 0) {
      await peer.settle(); // the client consumes and notifies; the peer writes more
      peer.flush();
      rounds++;
    }
    await peer.settle();
    expect(rounds).toBe(3);
    expect(await r).toStrictEqual(value);
    expect(peer.page.getU32(F.rsp_cons[0])).toBe(peer.page.getU32(F.rsp_prod[0]));
    expect(peer.page.getU32(F.rsp_cons[0])).toBe(2992); // wrapped
  });

  it("queues requests larger than the free request space and writes them as the peer consumes", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const big = "z".repeat(3000);
    const w = xs.write("k", big);
    await peer.settle();
    const got = [];
    for (let i = 0; i < 10 && got.length === 0; i++) {
      got.push(...peer.takeRequests()); // consuming notifies the client, which writes more
      await peer.settle();
    }
    expect(got).toHaveLength(1);
    expect(text(got[0]!)).toBe(`k\0${big}`);
    peer.reply(got[0]!, "OK\0");
    await peer.settle();
    await expect(w).resolves.toBeUndefined();
  });

  it("rejects a request over 4096 bytes with E2BIG without sending it", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const e = await rejection(xs.write("k", "v".repeat(4095)));
    expect([e.code, e.reason, e.path]).toEqual(["E2BIG", "request-too-large", "k"]);
    expect(peer.page.getU32(F.req_prod[0])).toBe(0);
  });
});

describe("XenbusClient over a scripted peer: never a hang", () => {
  it("rejects pending and later requests when xenstored sets the error field", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const p = quiet(xs.read("a"));
    await peer.settle();
    peer.page.setU32(F.error[0], XENSTORE_ERROR.XENSTORE_ERROR_RINGIDX);
    peer.notify();
    await peer.settle();
    const e = await rejection(p);
    expect([e.code, e.reason, e.ringError, e.path]).toEqual(["EIO", "ring-error", 2, "a"]);
    expect((await rejection(xs.read("b"))).reason).toBe("ring-error");
  });

  it("rejects pending requests when the response indices are impossible", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const p = quiet(xs.directory("d"));
    await peer.settle();
    peer.page.setU32(F.rsp_prod[0], 2000);
    peer.notify();
    await peer.settle();
    expect((await rejection(p)).reason).toBe("ring-corrupt");
  });

  it("rejects pending requests when a reply header announces more than 4096 bytes", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const p = quiet(xs.read("a"));
    await peer.settle();
    const header = encodeXsMessage({
      type: XS.XS_READ,
      req_id: 1,
      tx_id: 0,
      payload: new Uint8Array(0),
    });
    new DataView(header.buffer).setUint32(12, 4097, true);
    peer.sendBytes(header);
    await peer.settle();
    expect((await rejection(p)).reason).toBe("protocol");
  });

  it("rejects pending requests and errors watches on close(), and when the store channel closes", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const p = quiet(xs.read("a"));
    let watchErr: unknown;
    xs.watch("w").subscribe({ error: (e) => (watchErr = e) });
    xs.close();
    expect((await rejection(p)).reason).toBe("closed");
    expect((watchErr as XenbusError).reason).toBe("closed");
    expect((await rejection(xs.mkdir("x"))).reason).toBe("closed");
    expect(peer.channel.closed).toBe(false); // not owned by the client

    const peer2 = scriptedPeer();
    const xs2 = new XenbusClient(peer2.page, peer2.channel);
    const q = quiet(xs2.read("a"));
    peer2.channel.close();
    expect((await rejection(q)).reason).toBe("closed");
  });
});

describe("XenbusClient over a scripted peer: DIRECTORY_PART", () => {
  it("restarts from offset 0 when the generation changes between parts", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const d = quiet(xs.directory("dir"));
    const step = async () => {
      await peer.settle();
      const [m] = peer.takeRequests();
      return m!;
    };
    const m0 = await step();
    expect(m0.type).toBe(XS.XS_DIRECTORY);
    peer.error(m0, "E2BIG");
    const p0 = await step();
    expect([p0.type, text(p0)]).toEqual([XS.XS_DIRECTORY_PART, "dir\x000\x00"]);
    peer.reply(p0, "7\0aa\0bb\0"); // first part of generation 7
    const p1 = await step();
    expect(text(p1)).toBe("dir\x006\x00");
    peer.reply(p1, "8\0cc\0\0"); // the directory changed: start over
    const p2 = await step();
    expect(text(p2)).toBe("dir\x000\x00");
    peer.reply(p2, "8\0aa\0bb\0");
    const p3 = await step();
    expect(text(p3)).toBe("dir\x006\x00");
    peer.reply(p3, "8\0cc\0dd\0\0");
    await peer.settle();
    expect(await d).toEqual(["aa", "bb", "cc", "dd"]);
  });

  it("turns ENOSYS from DIRECTORY_PART into E2BIG", async () => {
    const peer = scriptedPeer();
    const xs = new XenbusClient(peer.page, peer.channel);
    const d = quiet(xs.directory("dir"));
    await peer.settle();
    peer.error(peer.takeRequests()[0]!, "E2BIG");
    await peer.settle();
    peer.error(peer.takeRequests()[0]!, "ENOSYS");
    await peer.settle();
    const e = await rejection(d);
    expect([e.code, e.path]).toEqual(["E2BIG", "dir"]);
  });
});
