// xenstored's ring transport against real guest rings: grant ref 1 mapped into dom0, the store
// port bound interdomain, requests read from req and replies written to rsp
// (docs/misc/xenstore-ring.txt).
import { describe, expect, it } from "vitest";
import {
  encodeXsMessage,
  GNTTAB_RESERVED_XENSTORE,
  GTF,
  xenstore_domain_interface,
  XENSTORE_ERROR,
  XS,
} from "@pvkit/hypervisor-sim/abi";
import { GNTTAB_GFN_BASE, type Guest } from "@pvkit/hypervisor-sim";
import { evtchnSend, evtchnStatus } from "@pvkit/guest-sdk/hypercall";
import { XenstoreError } from "@pvkit/toolstack";
import { STORE_GFN, messages, ringHost, run, str } from "./ring-fixture.js";

const F = xenstore_domain_interface;
const enc = (type: number, payload: string, req_id = 0, tx_id = 0): Uint8Array =>
  encodeXsMessage({ type, req_id, tx_id, payload: new Uint8Array(Buffer.from(payload, "latin1")) });

describe("XenstoreRingTransport: setup", () => {
  it("maps grant ref 1 into a dom0 hole, binds the store port and marks the ring connected", () => {
    const { g0, xs, addGuest } = ringHost();
    const u = addGuest();
    const t = u.transport;
    expect(xs.isIntroduced(u.domid)).toBe(true);
    expect(g0.memory.isHole(t.mapGfn)).toBe(false);
    // dom0's mapping aliases the guest's page.
    u.page.setU8(100, 0x5a);
    expect(g0.memory.page(t.mapGfn).getU8(100)).toBe(0x5a);
    // The guest's grant entry is pinned for reading and writing by the mapping.
    expect(
      grantFlags(u.guest, GNTTAB_RESERVED_XENSTORE) & (GTF.GTF_reading | GTF.GTF_writing),
    ).toBe(GTF.GTF_reading | GTF.GTF_writing);
    const st = evtchnStatus(u.guest.hypercall, u.port);
    expect(st.state).toBe("interdomain");
    expect(st).toMatchObject({ remoteDom: 0, remotePort: t.localPort });
    expect(u.page.getU32(F.connection[0])).toBe(0);
    expect(u.page.getU32(F.server_features[0])).toBe(0);
    expect(t.state).toBe("open");
  });

  it("fails INTRODUCE with EINVAL and leaves nothing mapped when the guest has not granted ref 1", () => {
    const { hv, g0, xs, dom0 } = ringHost();
    const d = hv.createDomain({ nrPages: 16 });
    const holesBefore = [...Array(16).keys()].map((i) => g0.memory.isHole(0x37ff0 + i));
    expect(() => dom0.introduce(d.domid, STORE_GFN, 1)).toThrow(XenstoreError);
    try {
      dom0.introduce(d.domid, STORE_GFN, 1);
    } catch (e) {
      expect((e as XenstoreError).code).toBe("EINVAL");
    }
    expect(xs.isIntroduced(d.domid)).toBe(false);
    expect([...Array(16).keys()].map((i) => g0.memory.isHole(0x37ff0 + i))).toEqual(holesBefore);
  });
});

describe("XenstoreRingTransport: requests and replies", () => {
  it("answers a request byte for byte through the rings", () => {
    const { hv, addGuest } = ringHost();
    const u = addGuest();
    const path = `/local/domain/${u.domid}/data`;
    u.send(enc(XS.XS_WRITE, `${path}\0hello`, 0x1234, 0));
    u.send(enc(XS.XS_READ, `${path}\0`, 0xfffffffe, 0));
    run(hv);
    expect(u.page.getU32(F.req_cons[0])).toBe(u.page.getU32(F.req_prod[0]));
    const want = new Uint8Array([
      ...enc(XS.XS_WRITE, "OK\0", 0x1234),
      ...enc(XS.XS_READ, "hello", 0xfffffffe),
    ]);
    expect(u.drain()).toStrictEqual(want);
  });

  it("answers errors with XS_ERROR and keeps serving", () => {
    const { hv, addGuest } = ringHost();
    const u = addGuest();
    u.request(XS.XS_READ, "/nonexistent\0", 9);
    u.request(XS.XS_WATCH_EVENT, "x\0y\0", 10); // clients may not send this: ENOSYS
    u.request(XS.XS_GET_DOMAIN_PATH, `${u.domid}\0`, 11);
    run(hv);
    const ms = messages(u.drain());
    expect(ms.map((m) => [m.type, m.req_id, str(m)])).toEqual([
      [XS.XS_ERROR, 9, "EACCES\0"],
      [XS.XS_ERROR, 10, "ENOSYS\0"],
      [XS.XS_GET_DOMAIN_PATH, 11, `/local/domain/${u.domid}\0`],
    ]);
  });

  it("reassembles a request split across ring consumption (a 4096-byte payload)", () => {
    const { hv, dom0, addGuest } = ringHost();
    const u = addGuest();
    const path = `/local/domain/${u.domid}/big`;
    // An unprivileged node is limited to 2048 bytes in all, so the payload is long but the write fails on quota.
    const value = "v".repeat(4096 - path.length - 1);
    const bytes = enc(XS.XS_WRITE, `${path}\0${value}`, 77);
    expect(bytes.length).toBe(16 + 4096);
    let off = 0;
    while (off < bytes.length) {
      const n = u.req.write(bytes.subarray(off));
      off += n;
      evtchnSend(u.guest.hypercall, u.port);
      run(hv);
      if (off < bytes.length) expect(u.drain()).toHaveLength(0); // no reply before the whole request
      if (n === 0) throw new Error("ring stalled");
    }
    run(hv);
    const ms = messages(u.drain());
    expect(ms.map((m) => [m.type, m.req_id, str(m)])).toEqual([[XS.XS_ERROR, 77, "ENOSPC\0"]]);
    expect(u.transport.state).toBe("open");
    expect(() => dom0.read(path)).toThrow(XenstoreError);
  });

  it("serves many pipelined requests in order with their req_ids", () => {
    const { hv, dom0, addGuest } = ringHost();
    const u = addGuest();
    dom0.write(`/local/domain/${u.domid}/k`, "value");
    dom0.setPerms(`/local/domain/${u.domid}/k`, [`r${u.domid}`]);
    const got: [number, string][] = [];
    const total = 200;
    let sent = 0;
    let buf = new Uint8Array(0);
    while (got.length < total) {
      while (sent < total && u.req.free >= 16 + `k\0`.length) {
        u.req.write(enc(XS.XS_READ, "k\0", 1000 + sent));
        sent++;
      }
      // One notification for the whole batch.
      u.send(new Uint8Array(0));
      run(hv);
      const more = u.drain();
      const all = new Uint8Array(buf.length + more.length);
      all.set(buf);
      all.set(more, buf.length);
      // Keep a partial trailing message for the next round.
      let end = 0;
      while (end + 16 <= all.length) {
        const len = new DataView(all.buffer, all.byteOffset + end + 12, 4).getUint32(0, true);
        if (end + 16 + len > all.length) break;
        end += 16 + len;
      }
      for (const m of messages(all.subarray(0, end))) got.push([m.req_id, str(m)]);
      buf = all.slice(end);
      run(hv);
    }
    expect(got).toEqual([...Array(total).keys()].map((i) => [1000 + i, "value"]));
  });

  it("works across the 2^32 wrap of all four indices", () => {
    const { hv, addGuest } = ringHost();
    const u = addGuest();
    const start = 0xffffff00;
    for (const k of ["req_cons", "req_prod", "rsp_cons", "rsp_prod"] as const)
      u.page.setU32(F[k][0], start);
    const path = `/local/domain/${u.domid}/w`;
    const value = "x".repeat(300);
    u.request(XS.XS_WRITE, `${path}\0${value}`, 1);
    u.request(XS.XS_READ, `${path}\0`, 2);
    run(hv);
    const ms = messages(u.drain());
    expect(ms.map((m) => [m.req_id, str(m)])).toEqual([
      [1, "OK\0"],
      [2, value],
    ]);
    expect(u.page.getU32(F.req_cons[0])).toBe(112); // wrapped past 2^32
    expect(u.page.getU32(F.rsp_prod[0])).toBe(79);
  });
});

describe("XenstoreRingTransport: flow control", () => {
  it("splits a reply larger than the free space and continues as the guest consumes", () => {
    const { hv, dom0, addGuest } = ringHost();
    const u = addGuest();
    const path = `/local/domain/${u.domid}/big`;
    const value = Buffer.from([...Array(3000).keys()].map((i) => i & 0xff));
    dom0.write(path, new Uint8Array(value));
    dom0.setPerms(path, [`r${u.domid}`]);
    u.request(XS.XS_READ, `${path}\0`, 5);
    run(hv);
    const chunks: number[] = [];
    const parts: Uint8Array[] = [];
    for (;;) {
      const b = u.drain(); // notifies dom0 that space was freed
      if (b.length === 0) break;
      chunks.push(b.length);
      parts.push(b);
      run(hv);
    }
    expect(chunks).toEqual([1024, 1024, 16 + 3000 - 2048]);
    const all = Buffer.concat(parts);
    expect(new Uint8Array(all)).toStrictEqual(
      encodeXsMessage({ type: XS.XS_READ, req_id: 5, tx_id: 0, payload: new Uint8Array(value) }),
    );
    expect(u.transport.queuedBytes).toBe(0);
  });

  it("stops reading the ring at 20 outstanding replies and resumes when the guest consumes", () => {
    const { hv, dom0, addGuest } = ringHost();
    const u = addGuest();
    const path = `/local/domain/${u.domid}/v`;
    dom0.write(path, "y".repeat(200)); // each reply is 216 bytes: 4 fit in rsp
    dom0.setPerms(path, [`r${u.domid}`]);
    const n = 40;
    for (let i = 0; i < n; i++) u.req.write(enc(XS.XS_READ, "v\0", i));
    u.send(new Uint8Array(0));
    run(hv);
    expect(u.transport.outstanding).toBe(20);
    const unread = (u.page.getU32(F.req_prod[0]) - u.page.getU32(F.req_cons[0])) >>> 0;
    expect(u.transport.requestsHandled).toBe(24); // 4 written to rsp + 20 outstanding
    expect(unread).toBe((n - 24) * (16 + 2));
    const ids: number[] = [];
    let pending = new Uint8Array(0);
    for (let round = 0; round < 100 && ids.length < n; round++) {
      const b = u.drain();
      const all = Buffer.concat([pending, b]);
      let end = 0;
      while (end + 16 <= all.length && end + 16 + all.readUInt32LE(end + 12) <= all.length)
        end += 16 + all.readUInt32LE(end + 12);
      for (const m of messages(new Uint8Array(all.subarray(0, end)))) ids.push(m.req_id);
      pending = new Uint8Array(all.subarray(end));
      run(hv);
    }
    expect(ids).toEqual([...Array(n).keys()]);
    expect(u.transport.outstanding).toBe(0);
  });
});

describe("XenstoreRingTransport: corrupt rings", () => {
  it("sets error = RINGIDX when req_prod - req_cons > 1024; only that connection stops", () => {
    const { hv, xs, dom0, addGuest } = ringHost();
    const bad = addGuest();
    const good = addGuest();
    bad.page.setU32(F.req_prod[0], (bad.page.getU32(F.req_cons[0]) + 1025) >>> 0);
    evtchnSend(bad.guest.hypercall, bad.port);
    run(hv);
    expect(bad.error).toBe(XENSTORE_ERROR.XENSTORE_ERROR_RINGIDX);
    expect(bad.transport.state).toBe("ignored");
    expect(xs.domainConnection(bad.domid)!.closed).toBe(true);
    expect(bad.page.getU32(F.req_cons[0])).toBe(0); // nothing was consumed
    // Repairing the indices does not revive it.
    bad.page.setU32(F.req_prod[0], 0);
    bad.request(XS.XS_GET_DOMAIN_PATH, "1\0", 1);
    run(hv);
    expect(bad.drain()).toHaveLength(0);
    // Another domain and dom0 are served as before.
    good.request(XS.XS_GET_DOMAIN_PATH, "3\0", 4);
    run(hv);
    expect(messages(good.drain()).map(str)).toEqual(["/local/domain/3\0"]);
    expect(dom0.getDomainPath(1)).toBe("/local/domain/1");
    expect(good.error).toBe(0);
  });

  it("sets error = RINGIDX when the guest corrupts the response indices", () => {
    const { hv, addGuest } = ringHost();
    const u = addGuest();
    u.page.setU32(F.rsp_cons[0], 0x80000000);
    u.request(XS.XS_GET_DOMAIN_PATH, "1\0", 1);
    run(hv);
    expect(u.error).toBe(XENSTORE_ERROR.XENSTORE_ERROR_RINGIDX);
    expect(u.transport.state).toBe("ignored");
  });

  it("sets error = PROTO and drops the connection on a header with len > 4096", () => {
    const { hv, xs, addGuest } = ringHost();
    const u = addGuest();
    const other = addGuest();
    const header = new Uint8Array(16);
    new DataView(header.buffer).setUint32(12, 4097, true);
    u.send(header);
    run(hv);
    expect(u.error).toBe(XENSTORE_ERROR.XENSTORE_ERROR_PROTO);
    expect(xs.domainConnection(u.domid)!.closeReason).toBe("oversize");
    expect(u.transport.state).toBe("ignored");
    other.request(XS.XS_GET_DOMAIN_PATH, "9\0", 1);
    run(hv);
    expect(messages(other.drain()).map(str)).toEqual(["/local/domain/9\0"]);
  });

  it("drops the connection on a garbage header (random bytes announce a huge len)", () => {
    const { hv, xs, addGuest } = ringHost();
    const u = addGuest();
    const garbage = new Uint8Array([
      0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x55, 0xaa, 0x55, 0xaa, 0x10, 0x32, 0x54,
      0x76, 0x99,
    ]);
    u.send(garbage);
    run(hv);
    expect(u.error).toBe(XENSTORE_ERROR.XENSTORE_ERROR_PROTO);
    expect(xs.domainConnection(u.domid)!.closed).toBe(true);
    // The byte after the header was not consumed: xenstored read exactly the header.
    expect(u.page.getU32(F.req_cons[0])).toBe(16);
  });

  it("answers a header with an unknown type but a sane len with ENOSYS and keeps the connection", () => {
    const { hv, addGuest } = ringHost();
    const u = addGuest();
    u.send(enc(0x7777, "abc", 3));
    u.request(XS.XS_GET_DOMAIN_PATH, "2\0", 4);
    run(hv);
    expect(messages(u.drain()).map((m) => [m.type, m.req_id, str(m)])).toEqual([
      [XS.XS_ERROR, 3, "ENOSYS\0"],
      [XS.XS_GET_DOMAIN_PATH, 4, "/local/domain/2\0"],
    ]);
    expect(u.error).toBe(0);
  });
});

describe("XenstoreRingTransport: watches", () => {
  it("delivers the initial event and later events over the ring", () => {
    const { hv, dom0, addGuest } = ringHost();
    const u = addGuest();
    const base = `/local/domain/${u.domid}`;
    u.request(XS.XS_WATCH, "sub\0tok\0", 1);
    run(hv);
    expect(messages(u.drain()).map((m) => [m.type, m.req_id, str(m)])).toEqual([
      [XS.XS_WATCH, 1, "OK\0"],
      [XS.XS_WATCH_EVENT, 0, "sub\0tok\0"],
    ]);
    dom0.write(`${base}/sub/leaf`, "1");
    run(hv);
    expect(messages(u.drain()).map((m) => [m.type, str(m)])).toEqual([
      [XS.XS_WATCH_EVENT, "sub/leaf\0tok\0"],
    ]);
  });
});

describe("XenstoreRingTransport: teardown", () => {
  it("RELEASE unmaps the ring, unbinds the port and ends the grant's pin", () => {
    const { hv, g0, dom0, addGuest } = ringHost();
    const u = addGuest();
    const gfn = u.transport.mapGfn;
    dom0.release(u.domid);
    run(hv);
    expect(u.transport.state).toBe("closed");
    expect(g0.memory.isHole(gfn)).toBe(true);
    expect(evtchnStatus(u.guest.hypercall, u.port).state).toBe("unbound");
    // GTF_reading / GTF_writing are clear again, so the guest could end its grant.
    expect(grantFlags(u.guest, GNTTAB_RESERVED_XENSTORE)).toBe(GTF.GTF_permit_access);
    u.transport.close(); // idempotent
  });

  it("domainDied closes the transport and fires nothing on the dead ring", () => {
    const { hv, g0, xs, addGuest } = ringHost();
    const u = addGuest();
    const gfn = u.transport.mapGfn;
    expect(xs.domainDied(u.domid)).toBe(true);
    run(hv);
    expect(u.transport.state).toBe("closed");
    expect(g0.memory.isHole(gfn)).toBe(true);
  });

  it("re-INTRODUCE after a reconnect request zeroes the indices and sets connection back to 0", () => {
    const { hv, dom0, addGuest } = ringHost();
    const u = addGuest();
    u.request(XS.XS_GET_DOMAIN_PATH, "1\0", 1);
    run(hv);
    u.drain();
    u.page.setU32(F.connection[0], 1);
    dom0.introduce(u.domid, STORE_GFN, u.port);
    for (const k of ["req_cons", "req_prod", "rsp_cons", "rsp_prod", "connection"] as const) {
      expect(u.page.getU32(F[k][0]), k).toBe(0);
    }
    u.request(XS.XS_GET_DOMAIN_PATH, "1\0", 2);
    run(hv);
    expect(messages(u.drain()).map((m) => m.req_id)).toEqual([2]);
  });
});

/** The flags of `ref` in the guest's own grant-table frame 0 (mapped at GNTTAB_GFN_BASE). */
function grantFlags(guest: Guest, ref: number): number {
  return guest.memory.page(GNTTAB_GFN_BASE).getU16(ref * 8);
}
