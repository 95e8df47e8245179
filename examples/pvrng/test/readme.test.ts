// The repository README's "A taste" section, checked against the code: its backend is an excerpt
// of src/back.ts, its test is run from the README's own text (scripts/doc-blocks.ts), and what it
// says the sanitizer prints when a driver skips a notify is what the sanitizer prints.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as sdk from "@pvkit/guest-sdk";
import type { BackendDriver, FrontendDriver } from "@pvkit/guest-sdk";
import { LocalXenbusTransport, detachDevice } from "@pvkit/toolstack";
import { withHost } from "@pvkit/toolstack/testing";
import { type BackState, type FrontState, pvrngBack, pvrngFront, read } from "@pvkit/example-pvrng";
import { docBlocks, isExcerptOf, runExample } from "../../../scripts/doc-blocks.js";

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");

/** The README's test, with the drivers it uses (a test may swap in a broken one). */
const runReadme = (
  drivers: {
    pvrngBack?: (seed: number) => BackendDriver<BackState>;
    pvrngFront?: FrontendDriver<FrontState>;
  } = {},
) =>
  runExample(
    readme,
    "pvrng",
    {},
    {
      withHost,
      expect,
      XenbusBus: sdk.XenbusBus,
      driverEnv: sdk.driverEnv,
      LocalXenbusTransport,
      detachDevice,
      read,
      pvrngBack: drivers.pvrngBack ?? pvrngBack,
      pvrngFront: drivers.pvrngFront ?? pvrngFront,
    },
  );

describe("README: a split device and its end-to-end test", () => {
  it("quotes the backend from examples/pvrng/src/back.ts byte for byte", () => {
    const blocks = docBlocks(readme).filter((b) => b.attrs["excerpt"] !== undefined);
    expect(blocks.map((b) => b.attrs["excerpt"])).toEqual(["examples/pvrng/src/back.ts"]);
    const file = readFileSync(
      new URL(`../../../${blocks[0]!.attrs["excerpt"]}`, import.meta.url),
      "utf8",
    );
    expect(isExcerptOf(blocks[0]!.body, file)).toBe(true);
  });

  it("runs its test as written: connect, read the pinned bytes, unplug, no leaks", async () => {
    await runReadme();
  });

  it("fails with the sanitizer's lost-wakeup finding, not a timeout, when the frontend skips its notify", async () => {
    const front: FrontendDriver<FrontState> = {
      ...pvrngFront,
      async initialise(dev) {
        await pvrngFront.initialise(dev);
        dev.data!.channel.notify = () => undefined;
      },
    };
    await expect(runReadme({ pvrngFront: front })).rejects.toThrow(
      /^pvkit sanitizer: 1 finding\n {2}- \[lost-wakeup\] d1 \(rng-user\) \/local\/domain\/1\/device\/pvrng\/0 ring \(grant ref 8 of d1, ports d1:3 \/ d0:4\): 1 request\(s\) pushed where the backend asked to be woken \(req_prod 1, req_event 1, req_cons 0\), no event pending, both ends blocked \(trace seq 254, t=0 ns\)\. Hint: the frontend pushed requests without notifying/,
    );
  });

  it("fails with the sanitizer's lost-wakeup finding when the backend skips its notify", async () => {
    const back = (seed: number): BackendDriver<BackState> => {
      const good = pvrngBack(seed);
      return {
        ...good,
        async connect(dev) {
          await good.connect(dev);
          dev.data!.channel.notify = () => undefined;
        },
      };
    };
    await expect(runReadme({ pvrngBack: back })).rejects.toThrow(
      /^pvkit sanitizer: 1 finding\n {2}- \[lost-wakeup\] d0 \(Domain-0\) \/local\/domain\/0\/backend\/pvrng\/1\/0 ring \(grant ref 8 of d1, ports d1:3 \/ d0:4\): 1 response\(s\) pushed where the frontend asked to be woken \(rsp_prod 1, rsp_event 1, rsp_cons 0\), no event pending, both ends blocked \(trace seq 258, t=0 ns\)\. Hint: the backend pushed responses without notifying/,
    );
  });
});
