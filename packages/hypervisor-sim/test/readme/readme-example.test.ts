// The example at the top of README.md, run from the README's own text (scripts/doc-blocks.ts).
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import * as sim from "@pvkit/hypervisor-sim";
import * as abi from "@pvkit/hypervisor-sim/abi";
import { runExample } from "../../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

it("binds an interdomain channel, sends, and dom0's upcall runs once", async () => {
  const { printed, vars } = await runExample(readme, "tour", {
    "@pvkit/hypervisor-sim": sim,
    "@pvkit/hypervisor-sim/abi": abi,
  });
  expect(printed).toEqual(["dom0 upcall"]);
  expect([
    (vars["a"] as { port: number }).port,
    (vars["b"] as { local_port: number }).local_port,
  ]).toEqual([1, 1]);
});
