import { describe, expect, it } from "vitest";
import { GNTST, GTF } from "@pvkit/hypervisor-sim/abi";
import { GrantStatusError } from "@pvkit/guest-sdk";
import { toGnttabCopy } from "@pvkit/guest-sdk/hypercall";
import { entry, pair, thrown } from "./helpers.js";

const LOCAL = 5; // a dom0 RAM page used as the local side

describe("GrantMapper.copy (GNTTABOP_copy)", () => {
  it("builds Xen's struct: gref sides set GNTCOPY_*_gref, local sides are DOMID_SELF frames", () => {
    expect(
      toGnttabCopy({ from: { ref: 9, domid: 3, offset: 16 }, to: { gfn: 0x20 }, length: 100 }),
    ).toEqual({
      source: { u: { ref: 9 }, domid: 3, offset: 16 },
      dest: { u: { gmfn: 0x20 }, domid: 0x7ff0, offset: 0 },
      len: 100,
      flags: 1,
    });
    expect(toGnttabCopy({ from: { gfn: 1 }, to: { ref: 2, domid: 4 }, length: 0 }).flags).toBe(2);
  });

  it("copies a peer's grant into a local page", () => {
    const { gu, g0, client, alloc, mapper } = pair();
    const p = alloc.alloc();
    const data = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff);
    p.page.write(0, data);
    const ref = client.grantAccess(0, p.gfn, { readonly: true });
    mapper.copy([{ from: { ref, domid: gu.domid }, to: { gfn: LOCAL }, length: 4096 }]);
    expect(g0.memory.page(LOCAL).read(0, 4096)).toEqual(data);
    expect(entry(gu, ref)[0]).toBe(GTF.GTF_permit_access | GTF.GTF_readonly); // pins lasted only for the copy
  });

  it("copies a local page into a peer's writable grant at an offset", () => {
    const { gu, g0, client, alloc, mapper } = pair();
    const p = alloc.alloc();
    const ref = client.grantAccess(0, p.gfn);
    g0.memory.writablePage(LOCAL).write(100, new TextEncoder().encode("echo"));
    mapper.copy([
      { from: { gfn: LOCAL, offset: 100 }, to: { ref, domid: gu.domid, offset: 4092 }, length: 4 },
    ]);
    expect(new TextDecoder().decode(p.page.read(4092, 4))).toBe("echo");
  });

  it("surfaces offset + length > 4096 as GNTST_bad_copy_arg with the batch index; the other elements are done", () => {
    const { gu, g0, client, alloc, mapper } = pair();
    const p = alloc.alloc();
    p.page.setU32(0, 0xdeadbeef);
    const ref = client.grantAccess(0, p.gfn);
    const e = thrown(
      () =>
        mapper.copy([
          { from: { ref, domid: gu.domid }, to: { gfn: LOCAL }, length: 4 },
          { from: { gfn: LOCAL }, to: { ref, domid: gu.domid, offset: 4000 }, length: 200 },
        ]),
      GrantStatusError,
    );
    expect([e.code, e.index, e.op]).toEqual(["GNTST_bad_copy_arg", 1, "GNTTABOP_copy"]);
    expect(g0.memory.page(LOCAL).getU32(0)).toBe(0xdeadbeef);
    const e2 = thrown(
      () =>
        mapper.copy([
          { from: { ref, domid: gu.domid, offset: 4095 }, to: { gfn: LOCAL }, length: 2 },
        ]),
      GrantStatusError,
    );
    expect([e2.code, e2.index]).toEqual(["GNTST_bad_copy_arg", 0]);
  });

  it("refuses to copy into a read-only grant (GNTST_general_error)", () => {
    const { gu, client, alloc, mapper } = pair();
    const ref = client.grantAccess(0, alloc.alloc().gfn, { readonly: true });
    const e = thrown(
      () => mapper.copy([{ from: { gfn: LOCAL }, to: { ref, domid: gu.domid }, length: 8 }]),
      GrantStatusError,
    );
    expect(e.code).toBe("GNTST_general_error");
  });
});

describe("GrantCopyBatch", () => {
  it("reuses its structs across runs, copying both ways, and reports the failing index", () => {
    const { gu, g0, client, alloc, mapper } = pair();
    const src = alloc.alloc();
    const dst = alloc.alloc();
    src.page.write(0, Uint8Array.of(1, 2, 3, 4));
    const rsrc = client.grantAccess(0, src.gfn, { readonly: true });
    const rdst = client.grantAccess(0, dst.gfn);
    const batch = mapper.copyBatch();
    batch.fromGrant(rsrc, gu.domid, 0, LOCAL, 8, 4).toGrant(LOCAL, 8, rdst, gu.domid, 100, 4);
    expect(batch.length).toBe(2);
    batch.run();
    expect(batch.length).toBe(0);
    expect(g0.memory.page(LOCAL).read(8, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(dst.page.read(100, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));

    batch.add({ from: { ref: rsrc, domid: gu.domid }, to: { gfn: LOCAL }, length: 1 });
    batch.toGrant(LOCAL, 0, rsrc, gu.domid, 0, 1); // a read-only grant as destination
    const e = thrown(() => batch.run(), GrantStatusError);
    expect([e.code, e.index]).toEqual(["GNTST_general_error", 1]);
    expect(batch.length).toBe(0);
    const seen = JSON.stringify(e.batch);
    batch.fromGrant(rsrc, gu.domid, 4095, LOCAL, 0, 2);
    expect(thrown(() => batch.run(), GrantStatusError).code).toBe("GNTST_bad_copy_arg");
    // The first error's evidence is its own: the later batch refilled the structs, not it.
    expect(JSON.stringify(e.batch)).toBe(seen);
    expect((e.batch[1] as { status: number }).status).toBe(GNTST.GNTST_general_error);
  });
});
