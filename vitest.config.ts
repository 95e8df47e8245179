import { defineConfig } from "vitest/config";
import SummaryReporter from "./scripts/summary-reporter.js";

export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "examples/*/vitest.config.ts"],
    reporters: ["default", new SummaryReporter()],
  },
});
