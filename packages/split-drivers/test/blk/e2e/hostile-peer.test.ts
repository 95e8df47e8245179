// Hostile-peer mode (hostilePeer of @pvkit/toolstack/testing) against the real blk pair: one end's
// ring page corrupted at a seeded notification, the honest end survives — the ring halts or the
// disk is disabled with a typed reason, the guest and dom0 run on, no acknowledged write is lost,
// the device unplugs cleanly. Outcomes pinned for seed 3.
import { describe, expect, it } from "vitest";
import { createTestHost } from "@pvkit/toolstack/testing";
import type { BlkbackOptions } from "@pvkit/split-drivers";
import { allowHostileFindings, runHostile, type HostileRun } from "./hostile-scenario.js";

async function run(
  impersonate: "backend" | "frontend",
  kind: Parameters<typeof runHostile>[1]["kinds"] & object,
  back?: BlkbackOptions,
): Promise<HostileRun> {
  const t = await createTestHost({ seed: 3 });
  allowHostileFindings(t);
  const r = await runHostile(t, {
    impersonate,
    kinds: kind,
    ...(back !== undefined ? { back } : {}),
  });
  await t.finish();
  return r;
}

const counts = (xs: readonly string[]): string =>
  [...new Set(xs)].map((x) => `${x}x${xs.filter((y) => y === x).length}`).join("|");

const summary = (r: HostileRun): string =>
  `${r.corruptions.map((c) => `${c.kind}@${c.offset}`).join()} ${r.diskState}/${r.disabledBy ?? "-"} stalled:${r.stalledAtWave ?? "-"} ${counts(r.outcomes)} unplug:${r.unplug}`;

describe("blk e2e: a hostile backend (blkfront is the honest end)", () => {
  it("disables the disk with ring-protocol when rsp_prod is pushed far ahead", async () => {
    expect(summary(await run("backend", ["prod-ahead"]))).toBe(
      "prod-ahead@8 disabled/ring-protocol stalled:- okx20|ring-protocolx4|disabledx24 unplug:closed",
    );
  });
  it("disables the disk with ring-protocol when rsp_prod is pushed far behind", async () => {
    expect(summary(await run("backend", ["prod-behind"]))).toBe(
      "prod-behind@8 disabled/ring-protocol stalled:- okx20|ring-protocolx4|disabledx24 unplug:closed",
    );
  });
  it("disables the disk with ring-protocol on a forged response with a garbage id", async () => {
    expect(summary(await run("backend", ["bad-id"]))).toBe(
      "bad-id@1520 disabled/ring-protocol stalled:- okx20|ring-protocolx4|disabledx24 unplug:closed",
    );
  });
  it("disables the disk with ring-protocol on a forged garbage response", async () => {
    expect(summary(await run("backend", ["garbage-entry"]))).toBe(
      "garbage-entry@1520 disabled/ring-protocol stalled:- okx20|ring-protocolx4|disabledx24 unplug:closed",
    );
  });
  it("stays connected with requests pending when req_event is garbage (blkback, not polling, is never told), and fails them as disconnected at the unplug", async () => {
    expect(summary(await run("backend", ["event-garbage"], { poll: false }))).toBe(
      "event-garbage@4 connected/- stalled:0 okx26|disconnectedx2 unplug:closed",
    );
  });
  it("serves every request when req_event is garbage and blkback polls (its look-again after a yield finds them unnotified)", async () => {
    expect(summary(await run("backend", ["event-garbage"]))).toBe(
      "event-garbage@4 connected/- stalled:- okx48 unplug:closed",
    );
  });
});

describe("blk e2e: a hostile frontend (blkback is the honest end)", () => {
  it("stops serving the ring when req_prod is pushed far ahead (the liar's requests hang until the unplug fails them)", async () => {
    expect(summary(await run("frontend", ["prod-ahead"]))).toBe(
      "prod-ahead@0 connected/- stalled:0 okx26|disconnectedx2 unplug:closed",
    );
  });
  it("stops serving the ring when req_prod is pushed far behind (the liar's requests hang until the unplug fails them)", async () => {
    expect(summary(await run("frontend", ["prod-behind"]))).toBe(
      "prod-behind@0 connected/- stalled:0 okx26|disconnectedx2 unplug:closed",
    );
  });
  it("answers a forged request with a garbage id (the lying frontend then disables itself)", async () => {
    expect(summary(await run("frontend", ["bad-id"]))).toBe(
      "bad-id@1520 disabled/ring-protocol stalled:- okx24|disabledx24 unplug:closed",
    );
  });
  it("answers a forged garbage request (the lying frontend then disables itself)", async () => {
    expect(summary(await run("frontend", ["garbage-entry"]))).toBe(
      "garbage-entry@1520 disabled/ring-protocol stalled:- okx24|disabledx24 unplug:closed",
    );
  });
  it("serves every request when rsp_event is garbage", async () => {
    expect(summary(await run("frontend", ["event-garbage"]))).toBe(
      "event-garbage@12 connected/- stalled:- okx48 unplug:closed",
    );
  });
});
