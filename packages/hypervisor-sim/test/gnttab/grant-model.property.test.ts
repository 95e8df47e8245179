/**
 * Model-based property test of grant tables v1: random sequences of grant, end-access (the
 * XSA-396 cmpxchg), map ro/rw, unmap, stale unmap, copy and writes through mappings across three
 * domains, against a small model. After every step: GTF_reading / GTF_writing equal the pin
 * counts, Xen's pins equal the model's, no mapping outlives its unmap, live mappings alias the
 * granter's bytes, and every status matches the model. A domain that maps its own grant moves
 * the page out of its RAM GFN (p2m_add_page), so later lookups of that GFN find a hole.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DeadMappingError,
  ReadOnlyMappingError,
  type Page,
  type ReadonlyPage,
} from "@pvkit/hypervisor-sim";
import { DOMID_SELF, GNTCOPY, GNTST, GTF } from "@pvkit/hypervisor-sim/abi";
import { MAP_GFN, copy, endAccess, grant, map, setupTable, unmap, world } from "./helpers.js";
import { internal } from "../internals.js";

const REFS = [8, 9, 10];
const frameOf = (ref: number): number => 20 + ref; // the granter's GFN behind each ref
const LOCAL = 40; // the copier's own RAM page

type Action =
  | { kind: "grant"; granter: number; ref: number; grantee: number; readonly: boolean }
  | { kind: "end"; granter: number; ref: number }
  | { kind: "map"; mapper: number; granter: number; ref: number; readonly: boolean }
  | { kind: "unmap"; pick: number }
  | { kind: "stale"; pick: number }
  | {
      kind: "copy";
      caller: number;
      granter: number;
      ref: number;
      toGrant: boolean;
      offset: number;
      len: number;
    }
  | { kind: "write"; pick: number; offset: number; value: number };

const dom = fc.integer({ min: 0, max: 2 });
const ref = fc.constantFrom(...REFS);
/** Mostly -1, "whoever the entry names": failures alone would rarely build up pins. */
const actor = fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: dom });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("grant" as const),
      granter: dom,
      ref,
      grantee: dom,
      readonly: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("end" as const), granter: dom, ref }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("map" as const),
      mapper: actor,
      granter: dom,
      ref,
      readonly: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("unmap" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("stale" as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("copy" as const),
      caller: actor,
      granter: dom,
      ref,
      toGrant: fc.boolean(),
      offset: fc.integer({ min: 3900, max: 4096 }),
      len: fc.integer({ min: 0, max: 200 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      pick: fc.nat(),
      offset: fc.integer({ min: 0, max: 1023 }).map((x) => x * 4),
      value: fc.nat(),
    }),
  },
);

interface ModelEntry {
  grantee: number;
  readonly: boolean;
}
interface ModelMapping {
  mapper: number;
  granter: number;
  ref: number;
  readonly: boolean;
  handle: number;
  gfn: number;
  view: Page | ReadonlyPage;
}

function run(actions: Action[]): void {
  const { hv, dom0, a, b } = world();
  const doms = [dom0, a, b];
  const ids = doms.map((d) => d.domid);
  const entries = new Map<string, ModelEntry>();
  const live: ModelMapping[] = [];
  const dead: ModelMapping[] = [];
  const nextGfn = [0, 0, 0];
  const key = (g: number, r: number) => `${g}:${r}`;
  const mappingsOf = (g: number, r: number) => live.filter((m) => m.granter === g && m.ref === r);
  // Each granter's table frame as the guest sees it (one frame: refs 8..10).
  const tables = ids.map((id) => hv.guest(id).memory.page(setupTable(hv, id)[0]!));
  // The frame behind each granted GFN, Xen-side: it stays the same frame even after a self-map
  // moved it out of the granter's physmap.
  const frames = doms.map((d) => REFS.map((r) => internal(d).physmap.frame(frameOf(r))!));
  const frameBytes = (g: number, r: number): Uint8Array => frames[g]![REFS.indexOf(r)]!.bytes;
  /** Granter GFNs that became holes: the granter mapped its own grant there and elsewhere. */
  const moved = new Set<string>();
  const sameBytes = (x: Uint8Array, y: Uint8Array) =>
    x.length === y.length && x.every((v, i) => v === y[i]);

  const expectedPinFailure = (
    caller: number,
    g: number,
    r: number,
    writable: boolean,
  ): number | undefined => {
    const e = entries.get(key(g, r));
    const pins = mappingsOf(g, r);
    if (pins.length > 0 && pins[0]!.mapper !== caller) return GNTST.GNTST_general_error;
    if (pins.length === 0 && (e === undefined || e.grantee !== ids[caller]))
      return GNTST.GNTST_general_error;
    if (writable && e !== undefined && e.readonly && !pins.some((m) => !m.readonly))
      return GNTST.GNTST_general_error;
    return undefined;
  };
  /** get_paged_frame runs (first pin, or a copy's first write pin) on a GFN that is now a hole. */
  const expectedBadPage = (g: number, r: number, writable: boolean, isCopy: boolean): boolean => {
    if (!moved.has(key(g, r))) return false;
    const pins = mappingsOf(g, r);
    return pins.length === 0 || (isCopy && writable && !pins.some((m) => !m.readonly));
  };

  const checkInvariants = (): void => {
    for (let g = 0; g < 3; g++) {
      for (const r of REFS) {
        const pins = mappingsOf(g, r);
        const hostRead = pins.filter((m) => m.readonly).length;
        const hostWrite = pins.length - hostRead;
        expect(internal(doms[g]!).gnttab.pins(r)).toEqual({
          hostRead,
          hostWrite,
          devRead: 0,
          devWrite: 0,
        });
        const e = entries.get(key(g, r));
        const type =
          e === undefined ? 0 : GTF.GTF_permit_access | (e.readonly ? GTF.GTF_readonly : 0);
        const bits =
          (pins.length > 0 ? GTF.GTF_reading : 0) | (hostWrite > 0 ? GTF.GTF_writing : 0);
        expect(tables[g]!.getU16(r * 8)).toBe(type | bits);
      }
      expect(internal(doms[g]!).gnttab.mappedByOthers).toBe(
        live.filter((m) => m.granter === g && m.mapper !== g).length,
      );
    }
    for (const m of live) {
      const mine = frames[m.granter]![REFS.indexOf(m.ref)]!;
      expect(m.view.alive).toBe(true);
      expect(m.view.mfn).toBe(mine.mfn);
      expect(sameBytes(m.view.read(0, 4096), mine.bytes)).toBe(true);
    }
    for (let g = 0; g < 3; g++) {
      for (const r of REFS)
        expect(hv.guest(ids[g]!).memory.isHole(frameOf(r))).toBe(moved.has(key(g, r)));
    }
    for (const m of dead) {
      expect(() => m.view.getU8(0)).toThrow(DeadMappingError);
    }
  };

  /** Resolves an actor of -1 to the grantee of the entry (or dom0 when the entry is free). */
  const who = (actor: number, g: number, r: number): number => {
    if (actor >= 0) return actor;
    const e = entries.get(key(g, r));
    return e === undefined ? 0 : ids.indexOf(e.grantee);
  };

  for (const step of actions) {
    const act =
      step.kind === "map"
        ? { ...step, mapper: who(step.mapper, step.granter, step.ref) }
        : step.kind === "copy"
          ? { ...step, caller: who(step.caller, step.granter, step.ref) }
          : step;
    switch (act.kind) {
      case "grant": {
        if (entries.has(key(act.granter, act.ref))) break; // a correct guest never reuses a live ref
        const flags = GTF.GTF_permit_access | (act.readonly ? GTF.GTF_readonly : 0);
        grant(hv, ids[act.granter]!, act.ref, ids[act.grantee]!, frameOf(act.ref), flags);
        entries.set(key(act.granter, act.ref), {
          grantee: ids[act.grantee]!,
          readonly: act.readonly,
        });
        break;
      }
      case "end": {
        const inUse = mappingsOf(act.granter, act.ref).length > 0;
        expect(endAccess(hv, ids[act.granter]!, act.ref)).toBe(!inUse);
        if (!inUse) entries.delete(key(act.granter, act.ref));
        break;
      }
      case "map": {
        const gfn = MAP_GFN + nextGfn[act.mapper]!++;
        const badPage = expectedBadPage(act.granter, act.ref, !act.readonly, false)
          ? GNTST.GNTST_bad_page
          : undefined;
        const expected =
          expectedPinFailure(act.mapper, act.granter, act.ref, !act.readonly) ??
          badPage ??
          GNTST.GNTST_okay;
        const op = map(hv, ids[act.mapper]!, ids[act.granter]!, act.ref, gfn, act.readonly);
        if (expected === GNTST.GNTST_okay && act.mapper === act.granter)
          moved.add(key(act.granter, act.ref));
        expect(op.status).toBe(expected);
        if (expected === GNTST.GNTST_okay) {
          expect(live.some((m) => m.mapper === act.mapper && m.handle === op.handle)).toBe(false);
          const view = hv.guest(ids[act.mapper]!).memory.page(gfn);
          expect(view.writable).toBe(!act.readonly);
          live.push({
            mapper: act.mapper,
            granter: act.granter,
            ref: act.ref,
            readonly: act.readonly,
            handle: op.handle!,
            gfn,
            view,
          });
        } else {
          expect(hv.guest(ids[act.mapper]!).memory.isHole(gfn)).toBe(true);
        }
        break;
      }
      case "unmap": {
        if (live.length === 0) break;
        const [m] = live.splice(act.pick % live.length, 1);
        expect(unmap(hv, ids[m!.mapper]!, m!.handle, m!.gfn).status).toBe(GNTST.GNTST_okay);
        dead.push(m!);
        break;
      }
      case "stale": {
        if (dead.length === 0) break;
        const m = dead[act.pick % dead.length]!;
        if (live.some((l) => l.mapper === m.mapper && l.handle === m.handle)) break; // handle reused
        expect(unmap(hv, ids[m.mapper]!, m.handle, m.gfn).status).toBe(GNTST.GNTST_bad_handle);
        break;
      }
      case "copy": {
        const caller = ids[act.caller]!;
        const granterId = ids[act.granter]!;
        const grantSide = { u: { ref: act.ref }, domid: granterId, offset: act.offset };
        const localSide = { u: { gmfn: LOCAL }, domid: DOMID_SELF, offset: 0 };
        const op = act.toGrant
          ? { source: localSide, dest: grantSide, len: act.len, flags: GNTCOPY.GNTCOPY_dest_gref }
          : {
              source: grantSide,
              dest: localSide,
              len: act.len,
              flags: GNTCOPY.GNTCOPY_source_gref,
            };
        const local = hv.guest(caller).memory.page(LOCAL);
        const srcBytes = act.toGrant ? local.read(0, 4096) : frameBytes(act.granter, act.ref);
        const before = srcBytes.slice(
          op.source.offset,
          op.source.offset + Math.min(act.len, 4096 - op.source.offset),
        );
        const badPage = expectedBadPage(act.granter, act.ref, act.toGrant, true)
          ? GNTST.GNTST_bad_page
          : undefined;
        let expected =
          expectedPinFailure(act.caller, act.granter, act.ref, act.toGrant) ??
          badPage ??
          GNTST.GNTST_okay;
        if (expected === GNTST.GNTST_okay && act.offset + act.len > 4096)
          expected = GNTST.GNTST_bad_copy_arg;
        expect(copy(hv, caller, op).status).toBe(expected);
        if (expected === GNTST.GNTST_okay) {
          const dstBytes = act.toGrant ? frameBytes(act.granter, act.ref) : local.read(0, 4096);
          expect(dstBytes.slice(op.dest.offset, op.dest.offset + act.len)).toEqual(before);
        }
        break;
      }
      case "write": {
        if (live.length === 0) break;
        const m = live[act.pick % live.length]!;
        const mine = new DataView(frameBytes(m.granter, m.ref).buffer);
        const value = act.value >>> 0;
        if (m.readonly) {
          const old = mine.getUint32(act.offset, true);
          expect(() => (m.view as Page).setU32(act.offset, value)).toThrow(ReadOnlyMappingError);
          expect(mine.getUint32(act.offset, true)).toBe(old);
        } else {
          (m.view as Page).setU32(act.offset, value);
          expect(mine.getUint32(act.offset, true)).toBe(value);
        }
        break;
      }
    }
    checkInvariants();
  }
}

describe("grant tables against a model", () => {
  it("keeps GTF bits, pins, mappings and statuses in step with the model for random sequences", () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 1, maxLength: 80, size: "max" }), (actions) => {
        run(actions);
      }),
      { numRuns: 150 },
    );
  }, 60_000); // generous: the machine may be busy; a run takes a few seconds
});
