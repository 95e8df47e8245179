// What the sanitizer reports in hostile-peer runs (hostilePeer of @pvkit/toolstack/testing): a
// ring halted by a hardening check is a `ring-halted` finding naming the domain at fault (the
// lying end, not the honest end that halted), its device path, the ring, the trace position, the
// seed and a hint; expectFinding announces it; unannounced, it fails the test's teardown. A lie
// in the backend's req_event, with blkback not polling, is a `lost-wakeup` found the moment the
// host goes quiescent.
import { describe, expect, it } from "vitest";
import {
  type Finding,
  SanitizerError,
  createTestHost,
  expectFinding,
} from "@pvkit/toolstack/testing";
import type { BlkbackOptions } from "@pvkit/split-drivers";
import { runHostile } from "./hostile-scenario.js";
import { XVDA } from "./pair.js";

type Kind = "prod-ahead" | "bad-id" | "event-garbage";

async function run(
  impersonate: "backend" | "frontend",
  kind: Kind,
  expect_ = true,
  of: Finding["kind"] = "ring-halted",
  back?: BlkbackOptions,
): Promise<{ findings: readonly Finding[]; teardown: unknown; front: number }> {
  const t = await createTestHost({ seed: 3 });
  // The other reports a lie may provoke stay allowed; ring-halted is the one under test.
  for (const k of [
    "unknown-response-id",
    "bad-response",
    "notify-storm",
    "unexpected-state",
  ] as const)
    expectFinding(t.host, k, 0);
  if (expect_) expectFinding(t.host, of);
  await runHostile(t, { impersonate, kinds: [kind], ...(back !== undefined ? { back } : {}) });
  const front = t.host.domains.find((d) => d.name === "blk-e2e")?.domid ?? 1;
  let teardown: unknown;
  await t.finish().catch((e: unknown) => void (teardown = e));
  return { findings: t.sanitizer!.findings.filter((f) => f.kind === of), teardown, front };
}

const summary = (f: Finding): string =>
  `${f.kind} d${f.domid} ${f.device} ${f.what} seq ${f.at.seq} t=${f.at.t} seed ${f.seed}`;

describe("sanitizer in hostile-peer runs: ring-halted names the domain at fault", () => {
  it("a backend pushing rsp_prod far ahead: dom0's backend is at fault, blkfront halted its ring", async () => {
    const { findings, teardown, front } = await run("backend", "prod-ahead");
    expect(teardown).toBeUndefined();
    expect(findings.map(summary)).toEqual([
      `ring-halted d0 /local/domain/0/backend/vbd/${front}/${XVDA} ring "device/vbd/${XVDA} queue 0" (grant ref 8 of d${front}) seq 529 t=0 seed 3`,
    ]);
    expect(findings[0]!.detail).toMatch(
      /^the backend broke the ring protocol \(a hostile peer: prod-ahead at offset 8, t=0 ns\) and the frontend d1 halted the ring: .*RING_RESPONSE_PROD_OVERFLOW/,
    );
    expect(findings[0]!.hint).toMatch(/^the backend published rsp_prod beyond/);
    expect(findings[0]!.message).toContain(
      "(trace seq 529, t=0 ns, seed 3). Hint: the backend published rsp_prod",
    );
  });

  it("a frontend pushing req_prod far ahead: the guest is at fault, blkback halted its ring", async () => {
    const { findings, front } = await run("frontend", "prod-ahead");
    expect(findings.map(summary)).toEqual([
      `ring-halted d${front} /local/domain/${front}/device/vbd/${XVDA} ring "vbd ${front}/${XVDA} ring 0" (grant ref 8 of d${front}, queue 0) seq 531 t=0 seed 3`,
    ]);
    expect(findings[0]!.detail).toMatch(/RING_REQUEST_PROD_OVERFLOW/);
    expect(findings[0]!.hint).toMatch(/RING_REQUEST_PROD_OVERFLOW/);
  });

  it("a frontend forging a request: the liar is at fault even though its own ring halted on the honest answer", async () => {
    const { findings, front } = await run("frontend", "bad-id");
    expect(findings.map((f) => `d${f.domid} ${f.device}`)).toEqual([
      `d${front} /local/domain/${front}/device/vbd/${XVDA}`,
    ]);
    expect(findings[0]!.detail).toMatch(
      /^the frontend broke the ring protocol \(a hostile peer: bad-id at offset 1520, t=\d+ ns\) and the frontend d1 halted the ring/,
    );
  });

  it("fails the teardown when the test did not announce it with expectFinding", async () => {
    const { teardown } = await run("backend", "bad-id", false);
    expect(teardown).toBeInstanceOf(SanitizerError);
    expect((teardown as SanitizerError).findings.map((f) => `${f.kind} d${f.domid}`)).toEqual([
      "ring-halted d0",
    ]);
  });

  it("a backend writing garbage into req_event, blkback not polling: a lost wake-up, dom0's backend at fault (req_event never re-armed past req_cons)", async () => {
    const { findings, teardown, front } = await run(
      "backend",
      "event-garbage",
      true,
      "lost-wakeup",
      { poll: false },
    );
    expect(teardown).toBeUndefined();
    // The lie (req_event = 3158285381, at t=0 ns) lands after blkback consumed requests 0..12
    // of queue 0, re-armed req_event and went idle. Pushing 13 and 14, blkfront's
    // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY sees req_event outside (13, 15]: no notify. blkback,
    // not polling, never looks again; both wait with no event pending, found when the host goes
    // quiescent, at trace seq 522. Blamed on the backend: the lying end wrote req_event.
    expect(findings.map(summary)).toEqual([
      `lost-wakeup d0 /local/domain/0/backend/vbd/${front}/${XVDA} ring (grant ref 8 of d${front}, queue 0, ports d${front}:3 / d0:4) seq 522 t=0 seed 3`,
    ]);
    expect(findings[0]!.detail).toBe(
      "2 request(s) unconsumed and req_event never re-armed past what the backend consumed (req_prod 15, req_event 3158285381, req_cons 13), no event pending, both ends blocked; a hostile backend lied on this device (event-garbage at offset 4, t=0 ns)",
    );
    expect(findings[0]!.hint).toBe(
      "the backend went idle without its final check; loop on finalCheckForRequests()",
    );
    expect(findings[0]!.domain).toBe("Domain-0");
  });
});
