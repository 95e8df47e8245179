#!/usr/bin/env node
// The `pvkit` command. A built package (`pnpm build`) runs dist/cli/main.js; in a source checkout
// without a build it runs src/cli/main.ts under tsx with the workspace's "@pvkit/source"
// condition (what the repo's scripts do), in a child that shares this terminal.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const dist = new URL("../dist/cli/main.js", import.meta.url);
if (existsSync(dist)) {
  await import(dist.href);
} else {
  const src = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  // tsx from this package's dependencies, by URL, so any working directory will do.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const child = spawn(
    process.execPath,
    ["--conditions=@pvkit/source", "--import", tsx, src, ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  // The child gets the terminal's signals itself; this process waits and exits as it does.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
