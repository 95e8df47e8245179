import { describe, expect, expectTypeOf, it } from "vitest";
import {
  ClosedError,
  DeadMappingError,
  type Page,
  type ReadonlyPage,
  ReadOnlyMappingError,
} from "@pvkit/hypervisor-sim";
import { GNTST, GNTTABOP, GTF } from "@pvkit/hypervisor-sim/abi";
import {
  DEFAULT_MAP_AREA_FIRST,
  GrantError,
  GrantMapper,
  GrantStatusError,
} from "@pvkit/guest-sdk";
import { unmapGrantRefs } from "@pvkit/guest-sdk/hypercall";
import { entry, pair, thrown } from "./helpers.js";

const IN_USE = GTF.GTF_reading | GTF.GTF_writing;

describe("GrantMapper", () => {
  it("maps a batch of refs into holes of its area, sharing bytes both ways, and unmaps the batch", () => {
    const { gu, g0, client, alloc, mapper } = pair();
    const pages = [alloc.alloc(), alloc.alloc(), alloc.alloc()];
    pages.forEach((p, i) => void p.page.setU32(0, 0x1000 + i));
    const refs = pages.map((p) => client.grantAccess(0, p.gfn));
    const maps = mapper.map(refs, gu.domid);
    expect(maps.map((m) => m.gfn)).toEqual([
      DEFAULT_MAP_AREA_FIRST,
      DEFAULT_MAP_AREA_FIRST + 1,
      DEFAULT_MAP_AREA_FIRST + 2,
    ]);
    expect(maps.map((m) => m.page.getU32(0))).toEqual([0x1000, 0x1001, 0x1002]);
    maps[1]!.page.setU32(8, 77);
    expect(pages[1]!.page.getU32(8)).toBe(77);
    expect(new Set(maps.map((m) => m.handle)).size).toBe(3);
    expect(mapper.mapped).toBe(3);
    for (const r of refs) expect(entry(gu, r)[0] & IN_USE).toBe(IN_USE);

    mapper.unmap(maps);
    expect(mapper.mapped).toBe(0);
    for (const m of maps) {
      expect(m.alive).toBe(false);
      expect(g0.memory.isHole(m.gfn)).toBe(true);
    }
    for (const r of refs) expect(entry(gu, r)[0] & IN_USE).toBe(0);
    // Slots are reused for the next mapping.
    const again = mapper.mapOne(refs[0]!, gu.domid);
    expect(maps.map((m) => m.gfn)).toContain(again.gfn);
    again.unmap();
  });

  it("skips GFNs of its area that are no longer holes", () => {
    const { gu, g0, client, alloc } = pair();
    const first = 0x31000;
    // Put something (shared_info) at the first GFN of the area.
    g0.hypercall.memory_op(7 /* XENMEM_add_to_physmap */, {
      domid: 0x7ff0,
      space: 0,
      idx: 0,
      gpfn: first,
    });
    const mapper = new GrantMapper(g0, { area: { first, count: 2 } });
    const m = mapper.mapOne(client.grantAccess(0, alloc.alloc().gfn), gu.domid);
    expect(m.gfn).toBe(first + 1);
    expect(
      thrown(() => mapper.mapOne(client.grantAccess(0, alloc.alloc().gfn), gu.domid), GrantError)
        .code,
    ).toBe("ERR_NO_MAP_SLOTS");
    mapper.close();
    expect(m.alive).toBe(false);
  });

  it("gives a read-only map a ReadonlyPage: no setters in its type, and writes throw", () => {
    const { gu, client, alloc, mapper } = pair();
    const p = alloc.alloc();
    p.page.setU8(0, 42);
    const ref = client.grantAccess(0, p.gfn, { readonly: true });
    const ro = mapper.mapOne(ref, gu.domid, { readonly: true });
    expectTypeOf(ro.page).toEqualTypeOf<ReadonlyPage>();
    expectTypeOf(ro.page).not.toHaveProperty("setU8");
    const rw = mapper.map([client.grantAccess(0, alloc.alloc().gfn)], gu.domid);
    expectTypeOf(rw[0]!.page).toEqualTypeOf<Page>();
    expect(ro.page.writable).toBe(false);
    expect(ro.page.getU8(0)).toBe(42);
    expect(() => (ro.page as Page).setU8(0, 1)).toThrow(ReadOnlyMappingError);
    expect(() => (ro.page as Page).write(0, new Uint8Array(4))).toThrow(ReadOnlyMappingError);
    expect(p.page.getU8(0)).toBe(42);
    expect(entry(gu, ref)[0]).toBe(GTF.GTF_permit_access | GTF.GTF_readonly | GTF.GTF_reading);
    mapper.close();
  });

  it("makes dispose idempotent, and the page throws DeadMappingError after unmap", () => {
    const { gu, client, alloc, mapper } = pair();
    const m = mapper.mapOne(client.grantAccess(0, alloc.alloc().gfn), gu.domid);
    const page = m.page;
    m[Symbol.dispose]();
    m[Symbol.dispose]();
    m.unmap();
    expect(mapper.mapped).toBe(0);
    expect(() => page.getU8(0)).toThrow(DeadMappingError);
    expect(() => m.page.setU32(0, 1)).toThrow(DeadMappingError);
  });

  it("throws GrantStatusError with the GNTST name and batch index, leaving nothing mapped", () => {
    const { gu, g0, client, alloc, mapper } = pair();
    const good = client.grantAccess(0, alloc.alloc().gfn);
    const e = thrown(() => mapper.map([good, good + 1, 600], gu.domid), GrantStatusError);
    // good + 1 was never granted: its entry is GTF_invalid.
    expect([e.code, e.status, e.index, e.op]).toEqual([
      "GNTST_general_error",
      GNTST.GNTST_general_error,
      1,
      "GNTTABOP_map_grant_ref",
    ]);
    expect(mapper.mapped).toBe(0);
    expect(g0.memory.isHole(DEFAULT_MAP_AREA_FIRST)).toBe(true);
    expect(entry(gu, good)[0] & IN_USE).toBe(0);
    const e2 = thrown(() => mapper.map([good, 600], gu.domid), GrantStatusError);
    expect([e2.code, e2.index]).toEqual(["GNTST_bad_gntref", 1]);
    expect(thrown(() => mapper.map([good], 77), GrantStatusError).code).toBe("GNTST_bad_domain");
  });

  it("keeps a mapping whose rollback failed live, so close() still unmaps it", () => {
    const { gu, g0, client, alloc } = pair();
    let refuseUnmap = true;
    const hypercall: typeof g0.hypercall = Object.create(g0.hypercall);
    hypercall.grant_table_op = (cmd: number, args: unknown[], count: number): number => {
      if (cmd === GNTTABOP.GNTTABOP_unmap_grant_ref && refuseUnmap) {
        for (const op of args as { status?: number }[]) op.status = GNTST.GNTST_general_error;
        return 0;
      }
      return g0.hypercall.grant_table_op(cmd, args, count);
    };
    const mapper = new GrantMapper({ domid: g0.domid, hypercall, memory: g0.memory });
    const good = client.grantAccess(0, alloc.alloc().gfn);
    const e = thrown(() => mapper.map([good, 600], gu.domid), GrantStatusError);
    expect(e.message).toMatch(/rollback left 1 mapping/);
    expect(mapper.mapped).toBe(1); // not lost: its handle is kept
    expect(entry(gu, good)[0] & IN_USE).toBe(IN_USE);
    refuseUnmap = false;
    mapper.close();
    expect(mapper.mapped).toBe(0);
    expect(entry(gu, good)[0] & IN_USE).toBe(0);
    expect(g0.memory.isHole(DEFAULT_MAP_AREA_FIRST)).toBe(true);
  });

  it("reports an unmap failure with the index in the caller's array and still retires the rest", () => {
    const { gu, g0, client, alloc, mapper } = pair();
    const maps = mapper.map(
      [client.grantAccess(0, alloc.alloc().gfn), client.grantAccess(0, alloc.alloc().gfn)],
      gu.domid,
    );
    // Someone unmaps the second handle behind the mapper's back.
    unmapGrantRefs(g0.hypercall, [
      { host_addr: maps[1]!.gfn * 4096, dev_bus_addr: 0, handle: maps[1]!.handle },
    ]);
    const e = thrown(() => mapper.unmap([maps[0]!, maps[0]!, maps[1]!]), GrantStatusError);
    expect([e.code, e.index]).toEqual(["GNTST_bad_handle", 2]);
    expect(maps[0]!.alive).toBe(false);
    expect(maps[1]!.alive).toBe(true);
  });

  it("refuses an area that overlaps RAM, and maps after close", () => {
    const { g0, gu, client, alloc, mapper } = pair();
    expect(() => new GrantMapper(g0, { area: { first: 10, count: 4 } })).toThrow(RangeError);
    mapper[Symbol.dispose]();
    expect(
      thrown(() => mapper.mapOne(client.grantAccess(0, alloc.alloc().gfn), gu.domid), ClosedError)
        .code,
    ).toBe("ERR_CLOSED");
  });
});
