// The "Events" example of README.md, run from the README's own text (scripts/doc-blocks.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as rxjs from "rxjs";
import * as sim from "@pvkit/hypervisor-sim";
import * as abi from "@pvkit/hypervisor-sim/abi";
import * as sdk from "@pvkit/guest-sdk";
import { runExample } from "../../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README events example", () => {
  it("runs and prints what the README says", async () => {
    const { printed } = await runExample(readme, "events", {
      rxjs,
      "@pvkit/hypervisor-sim": sim,
      "@pvkit/hypervisor-sim/abi": abi,
      "@pvkit/guest-sdk": sdk,
    });
    expect(printed).toEqual([
      "dom0: 2 events",
      "domU: event 1 on vCPU 0",
      "IPI on vCPU 1",
      "EINVAL EVTCHNOP_bind_virq",
      { state: "unbound", vcpu: 0, remoteDom: 1 },
    ]);
  });
});
