// The "Grants" example of the package README, run from the README's own text
// (scripts/doc-blocks.ts), with its printed values and the state it leaves as assertions.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import * as sim from "@pvkit/hypervisor-sim";
import * as sdk from "@pvkit/guest-sdk";
import type { GrantedPage, GuestPageAllocator } from "@pvkit/guest-sdk";
import { runExample } from "../../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

it("runs the README grants example as documented", async () => {
  const { printed, vars } = await runExample(readme, "grants", {
    "@pvkit/hypervisor-sim": sim,
    "@pvkit/guest-sdk": sdk,
  });
  expect(printed).toEqual(["hi", "deferred 1", 1, "c0ffee"]);
  const alloc = vars["alloc"] as GuestPageAllocator;
  expect([alloc.first, alloc.first + alloc.count - 1]).toEqual([32, 63]); // GFNs 32..63
  expect((vars["shared"] as GrantedPage).ref).toBe(8);
  expect(alloc.quarantined).toBe(0); // released by retryDeferred()
});
