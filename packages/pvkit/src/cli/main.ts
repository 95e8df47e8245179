#!/usr/bin/env node
/**
 * The `pvkit` executable: runs the command line and maps failures to a one-line message on
 * stderr and a non-zero exit (1 for a failure; commander's own codes for usage errors).
 */
// Type only: the config loader pulls in the host stack, which list/destroy/console never load.
import type { ConfigError } from "../config/load-config.js";
import { CliError } from "./cli-error.js";
import { program } from "./program.js";

try {
  await program().parseAsync(process.argv);
} catch (err) {
  report(err);
}
// Every command has finished its work (an `up` host is torn down): leave even if a library
// keeps a handle open. Writes to pipes and files are synchronous on Linux, so nothing is lost.
process.exit(process.exitCode ?? 0);

function report(err: unknown): void {
  if (err instanceof CliError) {
    process.stderr.write(`pvkit: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else if (err instanceof Error && err.name === "ConfigError") {
    process.stderr.write(`pvkit: ${(err as ConfigError).message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`pvkit: internal error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 70;
  }
}
