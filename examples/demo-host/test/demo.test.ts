import { expect, it } from "vitest";
import { runDemo } from "@pvkit/example-demo-host";

it("ping's events reach pong through a channel found via xenstore, and teardown is clean", async () => {
  const lines: string[] = [];
  const r = await runDemo({ pings: 7, log: (l) => lines.push(l) });
  expect(r.received).toBe(7);
  expect(r.tree).toContain(`${r.pongDomid}`);
  expect(r.tree.some((l) => l.includes('name = "ping"'))).toBe(true);
  expect(lines.at(-1)).toMatch(/^host: destroyed d\d+/);
});
