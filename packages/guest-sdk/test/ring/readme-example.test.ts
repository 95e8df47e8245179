// The "Rings" and "Byte rings" examples of README.md, run from the README's own text
// (scripts/doc-blocks.ts): what they print, and the ring state they leave.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as sim from "@pvkit/hypervisor-sim";
import * as sdk from "@pvkit/guest-sdk";
import type { BackRing, FrontRing } from "@pvkit/guest-sdk";
import { runExample } from "../../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README rings example", () => {
  it("prints RING_SIZE 128, one notification each way, both responses, then the byte ring's text", async () => {
    const { printed, vars } = await runExample(readme, "rings", {
      "@pvkit/hypervisor-sim": sim,
      "@pvkit/guest-sdk": sdk,
    });
    // The README's comments: RING_SIZE 128; the push notifies (req_event was 1). The frontend
    // never armed rsp_event past its initial 1, so the backend's push notifies too.
    expect(printed).toEqual([
      128,
      "notify the backend",
      "notify the frontend",
      "request 1 done: 0",
      "request 2 done: 0",
      "hello\n",
    ]);
    // The final check re-armed req_event = req_cons + 1 (struct sring: req_event at offset 4).
    const back = vars["back"] as BackRing<unknown, unknown>;
    const front = vars["front"] as FrontRing<unknown, unknown>;
    expect(back.reqCons).toBe(2);
    expect((vars["page"] as sim.Page).getU32(4)).toBe(3);
    expect(front.unconsumedResponses).toBe(0);
    expect(vars["n"]).toBe(6); // the byte ring took all of "hello\n"
  });
});
