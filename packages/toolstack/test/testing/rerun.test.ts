// The rerun command a failing seeded test prints selects that test and only it: vitest runs
// fixtures/rerun (tests failing on purpose through useHost, withHost and hostTest, inside
// describes) from the package's directory, then each printed command as printed, through a
// shell, in the same directory — with only the fixtures' --config and a json reporter added.
// vitest's -t matches the suite and test names joined by spaces, not by " > ".
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";

const run = promisify(execFile);
const pkg = fileURLToPath(new URL("../../", import.meta.url)); // packages/toolstack
const config = "test/testing/fixtures/rerun/vitest.config.ts";
const out = mkdtempSync(join(tmpdir(), "pvkit-rerun-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Outcome {
  name: string;
  status: string;
  messages: string[];
}

/** Runs `command` (the fixtures' config and a json reporter appended) in the package: each test's outcome. */
async function vitest(command: string, report: string): Promise<Outcome[]> {
  const file = join(out, report);
  // A shell as a user has it: not this run's pnpm and vitest variables (pnpm's npm_* ones make
  // it look for the package in the cwd only), nor a seed (the printed command sets its own).
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(npm_|pnpm_|VITEST|PVKIT_SEED$|NODE_OPTIONS$|TEST$)/i.test(k),
    ),
  );
  await run("sh", ["-c", `${command} --config ${config} --reporter=json --outputFile=${file}`], {
    cwd: pkg,
    env,
  }).catch((e: { code?: number }) => {
    if (e.code !== 1) throw e; // 1: tests failed, as they should
  });
  const json = JSON.parse(readFileSync(file, "utf8")) as {
    testResults: {
      assertionResults: { fullName: string; status: string; failureMessages: string[] }[];
    }[];
  };
  return json.testResults.flatMap((f) =>
    f.assertionResults.map((a) => ({
      name: a.fullName,
      status: a.status,
      messages: a.failureMessages,
    })),
  );
}

it("prints, for each failing seeded test, a command that reruns exactly that test with its seed", {
  timeout: 120_000,
}, async () => {
  const first = await vitest("pnpm vitest run", "all.json");
  const failed = first.filter((t) => t.status === "failed");
  expect(failed.map((t) => t.name)).toEqual([
    "rerun (outer) useHost [inner] fails on purpose",
    "rerun (outer) withHost fails on purpose",
    "rerun (outer) hostTest fails on purpose",
  ]);
  const commands = failed.map((t) => {
    const lines = t.messages.flatMap((m) => m.split("\n")).filter((l) => l.startsWith("seed "));
    expect(new Set(lines).size, t.name).toBe(1);
    return lines[0]!.replace(/^seed \d+; rerun: /, "");
  });
  expect(commands).toEqual([
    'PVKIT_SEED=7 pnpm vitest run test/testing/fixtures/rerun/rerun.fixture.ts -t "^rerun \\\\(outer\\\\) useHost \\\\[inner\\\\] fails on purpose$"',
    'PVKIT_SEED=9 pnpm vitest run test/testing/fixtures/rerun/rerun.fixture.ts -t "^rerun \\\\(outer\\\\) withHost fails on purpose$"',
    'PVKIT_SEED=11 pnpm vitest run test/testing/fixtures/rerun/rerun.fixture.ts -t "^rerun \\\\(outer\\\\) hostTest fails on purpose$"',
  ]);
  const reruns = await Promise.all(commands.map((c, i) => vitest(c, `rerun-${i}.json`)));
  reruns.forEach((tests, i) => {
    const ran = tests.filter((t) => t.status !== "skipped" && t.status !== "pending");
    expect(ran.map((t) => [t.name, t.status])).toEqual([[failed[i]!.name, "failed"]]);
    expect(ran[0]!.messages.join("\n")).toContain(`rerun: ${commands[i]!}`); // the same seed again
  });
});
