import { defineConfig } from "vitest/config";
import SummaryReporter from "./scripts/summary-reporter.js";

export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "examples/*/vitest.config.ts"],
    reporters: ["default", new SummaryReporter()],
    // One worker per core. vitest's default for `run` is one fewer than the cores (leaving one to
    // its main process), which on CI's 2-core machine means a single worker: the suite ran one
    // file at a time on one core while the main process, transforming sources, kept the other
    // mostly idle.
    maxWorkers: "100%",
  },
});
