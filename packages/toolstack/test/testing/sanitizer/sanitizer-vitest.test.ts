// How the sanitizer meets vitest: on by default, a finding fails the test with its message (the
// test's own error after it), the seed in the message, expected findings, the hostTest fixture.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { it } from "vitest";
import {
  SanitizerError,
  createTestHost,
  expectFinding,
  hostTest,
  sanitizerOf,
  withHost,
} from "@pvkit/toolstack/testing";
import { scenario } from "./rng-scenario.js";

describe("sanitizer in tests", () => {
  it("fails a stalled test with the finding first and the test's StallError after it", async () => {
    const err = await withHost((h) => scenario(h, { skipNotify: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SanitizerError);
    const msg = (err as SanitizerError).message.split("\n");
    expect(msg.slice(0, 2)).toEqual([
      "pvkit sanitizer: 1 finding",
      "  - [lost-wakeup] d1 (rng-user) /local/domain/1/device/rng/0 ring (grant ref 8 of d1, ports d1:3 / d0:4): 6 request(s) pushed where the backend asked to be woken (req_prod 6, req_event 1, req_cons 0), no event pending, both ends blocked (trace seq 254, t=0 ns). Hint: the frontend pushed requests without notifying; notify when pushRequestsAndCheckNotify() says so",
    ]);
    expect(msg[2]).toBe(
      "the test itself failed with: StallError: a burst of reads can never settle: the host went quiescent at t=0 ns with no timer or delivery left",
    );
    expect((err as SanitizerError).cause).toBeInstanceOf(Error);
  });

  it("names the host's seed and the virtual time under chaos", async () => {
    const err = (await withHost((h) => scenario(h, {}, { skipFinalCheck: true }), {
      chaos: { seed: 7 },
    }).catch((e: unknown) => e)) as SanitizerError;
    expect(err.findings.map((f) => [f.kind, f.domid, f.device, f.seed, f.at])).toEqual([
      ["lost-wakeup", 0, "/local/domain/0/backend/rng/1/0", 7, { seq: 245, t: 22289 }],
    ]);
  });

  it("lets a test expect the finding it provokes, and fails it when the finding does not come", async () => {
    const t = await createTestHost();
    t.sanitizer!.expect("leaked-port");
    await scenario(t.host, { leakPort: true });
    await expect(t.finish()).resolves.toMatchObject({ leaks: [] });
    const quiet = await createTestHost();
    expectFinding(quiet.host, "notify-storm");
    await scenario(quiet.host);
    await expect(quiet.finish()).rejects.toThrow(
      "pvkit sanitizer: 0 findings\nexpected but not found: notify-storm (expected at least 1, found 0)",
    );
  });

  it("keeps two hosts running at once in one worker apart (their rings share frame numbers)", async () => {
    // Both hosts number their frames alike, so both rings sit on the same machine frame number.
    // Host A, its reads done (rsp_prod 7), waits while host B connects and does its burst (B's
    // ring ends are the newest announced, at rsp_cons 6); A's checks must still read A's ends.
    let aFindings!: string[];
    let b!: Promise<void>;
    await withHost((a) =>
      scenario(a, {}, {}, undefined, {
        afterReads: async () => {
          let atBurst!: () => void;
          const reached = new Promise<void>((r) => (atBurst = r));
          let resume!: () => void;
          b = withHost((h) =>
            scenario(h, {}, {}, undefined, {
              afterBurst: () => (atBurst(), new Promise<void>((r) => (resume = r))),
            }),
          );
          await reached;
          sanitizerOf(a)!.checkQuiescent();
          aFindings = sanitizerOf(a)!.findings.map((f) => f.message);
          resume();
        },
      }),
    );
    await b;
    expect(aFindings).toEqual([]);
  });

  it("is off with sanitizer: false", async () => {
    const t = await createTestHost({ sanitizer: false });
    expect(sanitizerOf(t.host)).toBeUndefined();
    await scenario(t.host, { leakPort: true });
    await expect(t.finish()).resolves.toMatchObject({ leaks: [] });
  });

  it("leaves the testing entry point importable outside vitest (a script making a sanitized host)", () => {
    // hostTest is made on first use: test.extend needs vitest's runner, a fuzz or bench script has none.
    const script =
      'import { createTestHost, sanitizerOf } from "@pvkit/toolstack/testing"; const t = await createTestHost(); process.stdout.write(String(sanitizerOf(t.host) !== undefined)); await t.finish();';
    const out = execFileSync(
      process.execPath,
      ["--import", "tsx", "--conditions=@pvkit/source", "--input-type=module", "-e", script],
      { cwd: fileURLToPath(new URL("../../..", import.meta.url)), encoding: "utf8" },
    );
    expect(out).toBe("true");
  }, 30_000);

  hostTest(
    "gives the hostTest fixture a sanitized host and its sanitizer",
    async ({ host, sanitizer }) => {
      expect(sanitizerOf(host)).toBe(sanitizer);
      sanitizer.expect("leaked-watch");
      await scenario(host, { leakWatch: true });
      sanitizer.runDisconnectChecks(); // otherwise due at the next quiescence or at teardown
      expect(sanitizer.findings.map((f) => f.kind)).toEqual(["leaked-watch"]);
    },
  );
});
