// The test host's xenstore EAGAIN storm against the SDK's bounded transaction retry.
import { describe, expect, it } from "vitest";
import { createTestHost } from "@pvkit/toolstack/testing";

async function guestCommits(
  rate: number,
  seed: number,
  transactions: number,
): Promise<{ results: string[]; attempts: number; injected: unknown }> {
  const t = await createTestHost({ seed, faults: { xenstoreEagain: { rate } } });
  const results: string[] = [];
  let attempts = 0;
  const d = await t.host.createDomain({
    name: "tx",
    main: async (ctx) => {
      for (let i = 0; i < transactions; i++) {
        await ctx.xenbus
          .transaction(async (tx) => {
            attempts++;
            await tx.write("data/n", String(i));
          })
          .then(
            () => results.push("ok"),
            (e: unknown) => results.push((e as { code?: string }).code ?? String(e)),
          );
      }
    },
  });
  await t.host.until(d.done, "the guest's transactions");
  await t.finish();
  return { results, attempts, injected: t.faults.injected };
}

describe("test host faults: xenstore EAGAIN on commit", () => {
  it("gives up with EAGAIN after 11 attempts when every commit fails (the SDK's bounded retry)", async () => {
    const r = await guestCommits(1, 1, 2);
    expect(r.results).toEqual(["EAGAIN", "EAGAIN"]);
    expect(r.attempts).toBe(22);
    expect(r.injected).toEqual({
      xenstoreEagain: 22,
      xenstoreCommits: 0,
      grantMap: 0,
      grantMapsSeen: 0,
    });
  });

  it("commits every transaction through a 50% storm, retrying exactly the injected failures", async () => {
    const r = await guestCommits(0.5, 4, 20);
    expect(r.results).toEqual(Array(20).fill("ok"));
    expect(r.injected).toEqual({
      xenstoreEagain: 30,
      xenstoreCommits: 20,
      grantMap: 0,
      grantMapsSeen: 0,
    });
    expect(r.attempts).toBe(50);
  });
});
