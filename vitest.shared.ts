// Shared vitest settings: every package resolves workspace siblings to their TypeScript sources
// through the "@pvkit/source" export condition, so tests need no build step.
import { defineProject, type UserWorkspaceConfig } from "vitest/config";

// Vite's own defaults for server-side resolution, which setting `conditions` replaces.
const defaultServerConditions = ["module", "node", "development|production"];

export function pvkitProject(
  name: string,
  extra: UserWorkspaceConfig["test"] = {},
): UserWorkspaceConfig {
  const conditions = ["@pvkit/source", ...defaultServerConditions];
  return defineProject({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ["@pvkit/source"] } },
    test: { name, include: ["test/**/*.test.ts"], ...extra },
  });
}
