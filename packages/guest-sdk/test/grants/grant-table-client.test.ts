import { describe, expect, it } from "vitest";
import { ClosedError, GNTTAB_GFN_BASE, type ReadonlyPage } from "@pvkit/hypervisor-sim";
import { GTF } from "@pvkit/hypervisor-sim/abi";
import { GrantError, GrantTableClient, type MappedGrant } from "@pvkit/guest-sdk";
import { entry, pair, recordingGuest, type TableAccess, thrown } from "./helpers.js";

const IN_USE = GTF.GTF_reading | GTF.GTF_writing;

describe("GrantTableClient: granting", () => {
  it("allocates refs from 8 up, leaving the toolstack's refs 0-7 untouched", () => {
    const { gu, client, alloc } = pair();
    const refs = [0, 1, 2].map(() => client.grantAccess(0, alloc.alloc().gfn));
    expect(refs).toEqual([8, 9, 10]);
    for (let r = 0; r < 8; r++) expect(entry(gu, r)).toEqual([0, 0, 0]);
  });

  it("writes domid, then frame, then flags last, as grant_table.h requires", () => {
    const log: TableAccess[] = [];
    const { client, alloc } = pair({ wrap: (g) => recordingGuest(g, log) });
    const p = alloc.alloc();
    log.length = 0;
    const ref = client.grantAccess(0, p.gfn);
    const off = (ref % 512) * 8;
    const writes = log.filter((a) => a.op !== "get16");
    expect(writes).toEqual([
      { op: "set16", gfn: GNTTAB_GFN_BASE, offset: off + 2, value: 0 },
      { op: "set32", gfn: GNTTAB_GFN_BASE, offset: off + 4, value: p.gfn },
      { op: "set16", gfn: GNTTAB_GFN_BASE, offset: off, value: GTF.GTF_permit_access },
    ]);
  });

  it("sets GTF_readonly for a read-only grant, and Xen refuses a writable map of it", () => {
    const { gu, client, alloc, mapper } = pair();
    const p = alloc.alloc();
    const ref = client.grantAccess(0, p.gfn, { readonly: true });
    expect(entry(gu, ref)).toEqual([GTF.GTF_permit_access | GTF.GTF_readonly, 0, p.gfn]);
    expect(() => mapper.mapOne(ref, gu.domid)).toThrow(
      expect.objectContaining({ code: "GNTST_general_error" }),
    );
    const ro = mapper.mapOne(ref, gu.domid, { readonly: true });
    expect(entry(gu, ref)[0]).toBe(GTF.GTF_permit_access | GTF.GTF_readonly | GTF.GTF_reading);
    ro.unmap();
  });

  it("grows the table past one frame (512 entries) with setup_table, and Xen honours the new refs", () => {
    const { gu, client, alloc, mapper } = pair();
    const gfn = alloc.alloc().gfn;
    expect(client.nrFrames).toBe(1);
    let last = -1;
    for (let i = 0; i < 600; i++) last = client.grantAccess(0, gfn, { readonly: true });
    expect(last).toBe(607);
    expect(client.nrFrames).toBe(2);
    expect(entry(gu, 607)).toEqual([GTF.GTF_permit_access | GTF.GTF_readonly, 0, gfn]);
    const m = mapper.mapOne(607, gu.domid, { readonly: true });
    expect(m.page.mfn).toBe(gu.memory.page(gfn).mfn);
    m.unmap();
  });

  it("throws ERR_NO_GRANT_REFS once max_grant_frames are full, without holding the page", () => {
    const { client, alloc } = pair({ maxGrantFrames: 1, allocCount: 2 });
    const p = alloc.alloc();
    for (let i = 8; i < 512; i++) client.grantAccess(0, p.gfn, { readonly: true });
    const q = alloc.alloc();
    const e = thrown(() => client.grantAccess(0, q.gfn), GrantError);
    expect(e.code).toBe("ERR_NO_GRANT_REFS");
    expect(alloc.isHeld(q.gfn)).toBe(false);
    expect(alloc.free(q)).toBe("freed");
  });

  it("refuses to grant a page that is still in the allocator's pool", () => {
    const { client, alloc } = pair();
    expect(() => client.grantAccess(0, alloc.first)).toThrow(RangeError);
  });

  it("is one client per guest", () => {
    const { gu, client } = pair();
    expect(GrantTableClient.of(gu)).toBe(client);
  });
});

describe("GrantTableClient: ending access (XSA-396)", () => {
  it("ends an unmapped grant at once: flags go to 0, the ref and page are reusable", () => {
    const { gu, client, alloc } = pair();
    const p = alloc.alloc();
    const ref = client.grantAccess(0, p.gfn);
    expect(client.endAccess(ref)).toBe(true);
    expect(entry(gu, ref)[0]).toBe(0);
    expect(client.active).toBe(0);
    expect(alloc.free(p)).toBe("freed");
    expect(client.grantAccess(0, alloc.alloc().gfn)).toBe(ref);
  });

  it("defers the end while the peer maps the page; neither ref nor page is reused until it unmaps", () => {
    const { gu, client, alloc, mapper } = pair({ allocCount: 3 });
    const p = alloc.alloc();
    p.page.write(0, new TextEncoder().encode("secret"));
    const ref = client.grantAccess(0, p.gfn);
    const m = mapper.mapOne(ref, gu.domid);

    expect(client.endAccess(ref)).toBe(false);
    expect(entry(gu, ref)[0]).toBe(GTF.GTF_permit_access | IN_USE); // not cleared
    expect([client.deferred, client.quarantinedPages, client.active]).toEqual([1, 1, 0]);
    expect(alloc.free(p)).toBe("quarantined");

    // The allocator hands out every other page, never the quarantined one.
    const others = [alloc.alloc().gfn, alloc.alloc().gfn];
    expect(others).not.toContain(p.gfn);
    expect(thrown(() => alloc.alloc(), GrantError).code).toBe("ERR_NO_PAGES");
    // A new grant takes a fresh ref, and the peer still sees the old bytes untouched.
    const ref2 = client.grantAccess(0, others[0]!);
    expect(ref2).not.toBe(ref);
    expect(new TextDecoder().decode(m.page.read(0, 6))).toBe("secret");
    expect(client.retryDeferred()).toBe(0);

    m.unmap();
    expect(entry(gu, ref)[0] & IN_USE).toBe(0);
    expect(client.retryDeferred()).toBe(1);
    expect(entry(gu, ref)[0]).toBe(0);
    expect([client.deferred, client.quarantinedPages, alloc.quarantined]).toEqual([0, 0, 0]);
    const again = alloc.alloc();
    expect(again.gfn).toBe(p.gfn);
    expect(again.page.read(0, 6)).toEqual(new Uint8Array(6)); // zeroed on the way out
    expect(client.grantAccess(0, again.gfn)).toBe(ref);
  });

  it("retries deferred ends on the next grant or end call without an explicit retry", () => {
    const { gu, client, alloc, mapper } = pair();
    const p = alloc.alloc();
    const ref = client.grantAccess(0, p.gfn);
    const m = mapper.mapOne(ref, gu.domid, { readonly: true });
    expect(client.endAccess(ref)).toBe(false);
    client.grantAccess(0, alloc.alloc().gfn);
    expect(client.deferred).toBe(1); // still mapped: the retry inside grantAccess failed
    m.unmap();
    const q = alloc.alloc();
    const r3 = client.grantAccess(0, q.gfn); // retries first, so the old ref is free again
    expect(client.deferred).toBe(0);
    expect(r3).toBe(ref);
  });

  it("treats the grant as in use when Xen sets GTF_reading between the read and the cmpxchg", () => {
    const log: TableAccess[] = [];
    let race: (() => void) | undefined;
    const { gu, client, alloc, mapper } = pair({
      wrap: (g) =>
        recordingGuest(g, log, () => {
          const r = race;
          race = undefined;
          r?.(); // "Xen" acts right after the guest's first read of flags
        }),
    });
    const ref = client.grantAccess(0, alloc.alloc().gfn);
    let m: MappedGrant<ReadonlyPage> | undefined;
    race = () => (m = mapper.mapOne(ref, gu.domid, { readonly: true }));
    log.length = 0;
    expect(client.endAccess(ref)).toBe(false);
    expect(m?.alive).toBe(true);
    // It read flags (free), re-read them for the compare (now GTF_reading), and never wrote.
    expect(log.map((a) => [a.op, a.value])).toEqual([
      ["get16", GTF.GTF_permit_access],
      ["get16", GTF.GTF_permit_access | GTF.GTF_reading],
    ]);
    expect(entry(gu, ref)[0]).toBe(GTF.GTF_permit_access | GTF.GTF_reading);
    expect(client.deferred).toBe(1);
    m!.unmap();
    expect(client.retryDeferred()).toBe(1);
  });

  it("gives a deferred grant up as leaked after maxDeferredRetries, never reusing its ref", () => {
    const { gu, client, alloc, mapper } = pair({ maxDeferredRetries: 2 });
    const p = alloc.alloc();
    const ref = client.grantAccess(0, p.gfn);
    const m = mapper.mapOne(ref, gu.domid);
    expect(client.endAccess(ref)).toBe(false);
    client.retryDeferred();
    client.retryDeferred();
    expect(client.leaked).toBe(0);
    client.retryDeferred();
    expect([client.leaked, client.deferred, client.quarantinedPages]).toEqual([1, 0, 1]);
    m.unmap();
    expect(client.retryDeferred()).toBe(0);
    expect(client.grantAccess(0, alloc.alloc().gfn)).not.toBe(ref);
    expect(alloc.isHeld(p.gfn)).toBe(true);
  });

  it("throws ERR_UNKNOWN_REF for a ref it did not grant or already ended", () => {
    const { client, alloc } = pair();
    const ref = client.grantAccess(0, alloc.alloc().gfn);
    expect(client.endAccess(ref)).toBe(true);
    expect(thrown(() => client.endAccess(ref), GrantError).code).toBe("ERR_UNKNOWN_REF");
    expect(thrown(() => client.endAccess(3), GrantError).code).toBe("ERR_UNKNOWN_REF");
  });
});

describe("GrantTableClient: disposal", () => {
  it("ends every unmapped grant on dispose and reports nothing left", () => {
    const { gu, client, alloc } = pair();
    const refs = [
      client.grantAccess(0, alloc.alloc().gfn),
      client.grantAccess(0, alloc.alloc().gfn),
    ];
    client[Symbol.dispose]();
    for (const r of refs) expect(entry(gu, r)[0]).toBe(0);
    expect(thrown(() => client.grantAccess(0, 40), ClosedError).code).toBe("ERR_CLOSED");
  });

  it("throws ERR_GRANT_IN_USE naming the refs a peer still maps, ends the rest, and leaks the mapped ones", () => {
    const { gu, client, alloc, mapper } = pair();
    const a = client.grantAccess(0, alloc.alloc().gfn);
    const b = client.grantAccess(0, alloc.alloc().gfn);
    const m = mapper.mapOne(b, gu.domid);
    const e = thrown(() => client[Symbol.dispose](), GrantError);
    expect([e.code, e.refs]).toEqual(["ERR_GRANT_IN_USE", [b]]);
    expect(entry(gu, a)[0]).toBe(0);
    expect(entry(gu, b)[0] & IN_USE).not.toBe(0);
    expect(client.leaked).toBe(1);
    m.unmap();
    expect(GrantTableClient.of(gu)).not.toBe(client);
  });

  it("never hands out a ref its closed predecessor leaked while a peer still maps it (XSA-396)", () => {
    const { gu, client, alloc, mapper } = pair();
    const a = client.grantAccess(0, alloc.alloc().gfn);
    const b = client.grantAccess(0, alloc.alloc().gfn);
    client.endAccess(a); // a is free again: the successor may reuse it
    const m = mapper.mapOne(b, gu.domid);
    expect(client.close().inUse).toEqual([b]);
    const before = entry(gu, b);
    const next = GrantTableClient.of(gu);
    expect(next).not.toBe(client);
    expect(next.leaked).toBe(1);
    expect(next.isGranted(b)).toBe(true);
    const refs = [next.grantAccess(0, 40), next.grantAccess(0, 41), next.grantAccess(0, 42)];
    expect(refs).toContain(a);
    expect(refs).not.toContain(b);
    expect(entry(gu, b)).toEqual(before); // the mapped entry was not rewritten
    expect(m.page.alive).toBe(true);
    m.unmap();
  });

  it("GrantedPage.end() after the client closed frees the page, or keeps it quarantined if a peer still maps it", () => {
    const { gu, client, alloc, mapper } = pair({ allocCount: 2 });
    const loose = client.grantPage(0);
    const mapped = client.grantPage(0);
    const m = mapper.mapOne(mapped.ref, gu.domid);
    client.close();
    expect(loose.end()).toBe("ended");
    expect(mapped.end()).toBe("deferred");
    expect(mapped.end()).toBe("already-ended");
    expect(alloc.available).toBe(1); // the loose page is back
    expect(alloc.quarantined).toBe(1); // the mapped one stays out of use
    m.unmap();
  });

  it("GrantedPage.end() ends and frees; while mapped it defers and quarantines, idempotently", () => {
    const { gu, client, alloc, mapper } = pair({ allocCount: 2 });
    const gp = client.grantPage(0);
    const m = mapper.mapOne(gp.ref, gu.domid);
    expect(gp.end()).toBe("deferred");
    expect(gp.end()).toBe("already-ended");
    expect(alloc.quarantined).toBe(1);
    m.unmap();
    client.retryDeferred();
    expect(alloc.quarantined).toBe(0);
    const gp2 = client.grantPage(0);
    gp2[Symbol.dispose]();
    expect(gp2.ended).toBe(true);
    expect(alloc.available).toBe(2);
  });
});
