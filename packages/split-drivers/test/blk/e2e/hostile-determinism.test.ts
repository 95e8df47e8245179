// Seeded determinism across hosts in one process: the seed-3 hostile scenario (a lying backend
// writes garbage into req_event; blkback does not poll, so the requests pushed after it are
// never seen) gives the same trace bytes, the same findings and the same xenstore state when run
// first in the process, and again after other scenarios ran. Nothing a host does may depend on
// the hosts before it: the guest's and dom0's watch tokens were module-wide counters
// (`pvkit-watch-N`, `pvkit-local-N`), so a later host sent other tokens on the xenstore ring
// and xenstored charged other byte counts to each domain's memory quota.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chromeTraceJson, recordTrace } from "@pvkit/toolstack";
import { createTestHost } from "@pvkit/toolstack/testing";
import { allowHostileFindings, runHostile } from "./hostile-scenario.js";
import { runCrash } from "./crash-scenario.js";

interface Fingerprint {
  readonly traceSha256: string;
  readonly traceBytes: number;
  readonly findings: readonly string[];
  /** Watch tokens on the guest's ring connection and on blkback's dom0 connection, once connected. */
  readonly guestWatches: readonly string[];
  readonly dom0Watches: readonly string[];
  /** xenstored's memory-quota charge of the guest and of dom0, once connected (bytes). */
  readonly memory: readonly [guest: number, dom0: number];
  readonly outcomes: string;
}

/** The scenario under test: seed 3, a hostile backend, event-garbage, blkback not polling. */
async function seed3(): Promise<Fingerprint> {
  const t = await createTestHost({ seed: 3 });
  allowHostileFindings(t);
  const rec = recordTrace(t.host);
  let at: Pick<Fingerprint, "guestWatches" | "dom0Watches" | "memory"> | undefined;
  const r = await runHostile(t, {
    impersonate: "backend",
    kinds: ["event-garbage"],
    back: { poll: false },
    connected: (p) => {
      const xs = t.host.xenstored;
      at = {
        guestWatches: xs.domainConnection(p.dom.domid)!.watches.map((w) => w.token),
        dom0Watches: p.xs.client.conn.watches.map((w) => w.token),
        memory: [xs.memoryUsage(p.dom.domid), xs.memoryUsage(0)],
      };
    },
  });
  await t.finish();
  const trace = chromeTraceJson(rec.snapshot());
  rec[Symbol.dispose]();
  return {
    traceSha256: createHash("sha256").update(trace).digest("hex"),
    traceBytes: trace.length,
    findings: t.sanitizer!.findings.map(
      (f) => `${f.kind} d${f.domid} ${f.device} seq ${f.at.seq} t=${f.at.t} seed ${f.seed}`,
    ),
    ...at!,
    outcomes: r.outcomes.join(","),
  };
}

/** Other scenarios, each making its own watches: a lying frontend under chaos, a blkback restart. */
async function others(): Promise<void> {
  for (const seed of [4, 6]) {
    const t = await createTestHost({ seed, chaos: true });
    allowHostileFindings(t);
    await runHostile(t, { impersonate: "frontend", count: 2 });
    await t.finish();
  }
  const t = await createTestHost({ seed: 1, chaos: true });
  await runCrash(t, { form: "driver" });
  await t.finish();
}

describe("blk e2e: a seeded hostile scenario does not depend on the hosts before it", () => {
  it("gives the same trace bytes, findings, watch tokens and quota charges first and after other scenarios", async () => {
    const first = await seed3();
    await others();
    const again = await seed3();
    expect(again.traceSha256).toBe(first.traceSha256);
    expect(again).toEqual(first);
    // What a fresh process gives (the tokens count per connection, from 1).
    expect(first.guestWatches).toEqual(["pvkit-watch-1", "pvkit-watch-2", "pvkit-watch-3"]);
    expect(first.dom0Watches).toEqual(["pvkit-local-1", "pvkit-local-2"]);
    expect(first.memory).toEqual([2498, 9970]);
    // The same position as without a trace recorder (hostile-findings.test.ts): every traceable
    // point takes a sequence number whether or not a listener records it.
    expect(first.findings).toEqual([
      "lost-wakeup d0 /local/domain/0/backend/vbd/1/51712 seq 522 t=0 seed 3",
    ]);
  });
});
