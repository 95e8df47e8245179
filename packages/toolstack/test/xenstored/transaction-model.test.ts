// Model-based check of transaction isolation and conflict detection: random interleavings of
// outside writes and transactional reads/writes on existing nodes, against a tiny model.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Xenstored, XsLocalClient, XenstoreError } from "@pvkit/toolstack";

const KEYS = ["/p/k0", "/p/k1", "/p/k2", "/p/k3"];

const op = fc.record({
  who: fc.constantFrom("out" as const, "tx" as const),
  kind: fc.constantFrom("read" as const, "write" as const),
  key: fc.integer({ min: 0, max: KEYS.length - 1 }),
  value: fc.stringMatching(/^[a-z]{0,3}$/),
});

describe("transaction model", () => {
  it("reads a snapshot, sees its own writes, and commits iff nothing it touched changed outside", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), fc.boolean(), (ops, commit) => {
        const xs = new Xenstored();
        const out = new XsLocalClient(xs.connect());
        const tc = new XsLocalClient(xs.connect());
        for (const k of KEYS) out.write(k, "init");
        const global = new Map(KEYS.map((k) => [k, "init"]));
        const local = new Map<string, string>(); // the transaction's view of touched keys
        let conflict = false;
        const tx = tc.transactionStart();
        for (const o of ops) {
          const key = KEYS[o.key]!;
          if (o.who === "out") {
            if (o.kind === "write") {
              out.write(key, o.value);
              global.set(key, o.value);
              if (local.has(key)) conflict = true;
            } else {
              expect(out.readString(key)).toBe(global.get(key));
            }
          } else {
            if (!local.has(key)) local.set(key, global.get(key)!);
            if (o.kind === "write") {
              tc.write(key, o.value, tx);
              local.set(key, o.value);
            } else {
              expect(tc.readString(key, tx)).toBe(local.get(key));
            }
          }
        }
        const before = new Map(global);
        let result = "OK";
        try {
          tc.transactionEnd(tx, commit);
        } catch (e) {
          result = e instanceof XenstoreError ? e.code : String(e);
        }
        expect(result).toBe(commit && conflict ? "EAGAIN" : "OK");
        const expected = commit && !conflict ? new Map([...before, ...local]) : before;
        for (const k of KEYS) expect(out.readString(k)).toBe(expected.get(k));
      }),
      { numRuns: 200 },
    );
  });
});
