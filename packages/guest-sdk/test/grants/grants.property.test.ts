// Model-based property test of the grants layer: random grant / map / unmap / end / free /
// retry sequences against a tiny model of XSA-396 (an end succeeds iff nothing maps the grant;
// a deferred grant's ref and page stay out of use until a retry releases it).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ReadonlyPage } from "@pvkit/hypervisor-sim";
import type { MappedGrant } from "@pvkit/guest-sdk";
import { entry, pair } from "./helpers.js";

type Action =
  | { t: "grant"; ro: boolean }
  | { t: "map"; i: number }
  | { t: "unmap"; i: number }
  | { t: "end"; i: number }
  | { t: "free"; i: number }
  | { t: "retry" };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ t: fc.constant("grant" as const), ro: fc.boolean() }),
  fc.record({ t: fc.constant("map" as const), i: fc.nat(40) }),
  fc.record({ t: fc.constant("unmap" as const), i: fc.nat(40) }),
  fc.record({ t: fc.constant("end" as const), i: fc.nat(40) }),
  fc.record({ t: fc.constant("free" as const), i: fc.nat(40) }),
  fc.constant({ t: "retry" as const }),
);

interface Rec {
  ref: number;
  gfn: number;
  ro: boolean;
  marker: number;
  maps: MappedGrant<ReadonlyPage>[];
  /** endAccess was called (successfully or deferred). */
  ended: boolean;
  /** The entry was cleared: ref free, page no longer held. */
  released: boolean;
  freed: boolean;
}

describe("grants (model-based)", () => {
  it("never reuses a ref or page a peer still maps, and ends a grant exactly when nothing maps it", () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => {
        const { gu, client, alloc, mapper } = pair({ allocCount: 6 });
        const recs: Rec[] = [];
        let marker = 0;
        const pick = <T>(xs: T[], i: number): T | undefined =>
          xs.length === 0 ? undefined : xs[i % xs.length];
        // What a retry inside the client does: every deferred grant nobody maps is released.
        const modelRetry = (): number => {
          let n = 0;
          for (const r of recs) {
            if (r.ended && !r.released && r.maps.length === 0) {
              r.released = true;
              n++;
            }
          }
          return n;
        };
        for (const a of actions) {
          switch (a.t) {
            case "grant": {
              if (alloc.available === 0) break;
              const p = alloc.alloc();
              expect(p.page.getU32(0)).toBe(0); // zeroed (XSA-403)
              p.page.setU32(0, ++marker);
              modelRetry();
              const ref = client.grantAccess(0, p.gfn, { readonly: a.ro });
              expect(recs.some((r) => r.ref === ref && !r.released)).toBe(false);
              expect(recs.some((r) => r.gfn === p.gfn && !(r.released && r.freed))).toBe(false);
              recs.push({
                ref,
                gfn: p.gfn,
                ro: a.ro,
                marker,
                maps: [],
                ended: false,
                released: false,
                freed: false,
              });
              break;
            }
            case "map": {
              const r = pick(
                recs.filter((x) => !x.released),
                a.i,
              );
              if (r === undefined) break;
              r.maps.push(mapper.mapOne(r.ref, gu.domid, { readonly: r.ro }));
              break;
            }
            case "unmap": {
              const r = pick(
                recs.filter((x) => x.maps.length > 0),
                a.i,
              );
              if (r === undefined) break;
              r.maps.pop()!.unmap();
              break;
            }
            case "end": {
              const r = pick(
                recs.filter((x) => !x.ended),
                a.i,
              );
              if (r === undefined) break;
              modelRetry();
              const ok = client.endAccess(r.ref);
              expect(ok).toBe(r.maps.length === 0);
              r.ended = true;
              r.released = ok;
              break;
            }
            case "free": {
              const r = pick(
                recs.filter((x) => !x.freed),
                a.i,
              );
              if (r === undefined) break;
              expect(alloc.free(r.gfn)).toBe(r.released ? "freed" : "quarantined");
              r.freed = true;
              break;
            }
            case "retry":
              expect(client.retryDeferred()).toBe(modelRetry());
              break;
          }
          // Invariants after every step.
          const live = recs.filter((r) => !r.released);
          expect(client.deferred).toBe(live.filter((r) => r.ended).length);
          expect(client.active).toBe(live.filter((r) => !r.ended).length);
          expect(alloc.quarantined).toBe(live.filter((r) => r.freed).length);
          for (const r of live) {
            // The page was not handed to anyone else: the peer still sees its owner's marker.
            for (const m of r.maps) expect(m.page.getU32(0)).toBe(r.marker);
            expect(entry(gu, r.ref)[2]).toBe(r.gfn);
          }
        }
        mapper.close();
      }),
      { numRuns: 150 },
    );
  });
});
