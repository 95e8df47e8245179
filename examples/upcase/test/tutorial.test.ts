// docs/tutorial.md cannot drift from this example: each of its code blocks marked
// ```<lang> file=<path>``` must be that file of the example, byte for byte, and every file of the
// example (but this one) must be shown. So the tests above run exactly the tutorial's code.
// The example's README.md runs from its own text too (scripts/doc-blocks.ts).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import * as sdk from "@pvkit/guest-sdk";
import * as toolstack from "@pvkit/toolstack";
import { checkLeaks, type Leak } from "@pvkit/toolstack/testing";
import * as upcase from "@pvkit/example-upcase";
import { docBlocks, runExample } from "../../../scripts/doc-blocks.js";

const example = fileURLToPath(new URL("..", import.meta.url));
const tutorial = readFileSync(join(example, "../../docs/tutorial.md"), "utf8");
const blocks = docBlocks(tutorial).flatMap((b) => (b.attrs["file"] === undefined ? [] : [{ file: b.attrs["file"], body: b.body }]));

it("shows each file of the example exactly as it is", () => {
  expect(blocks.length).toBeGreaterThan(0);
  for (const b of blocks) expect(b.body, `docs/tutorial.md, block file=${b.file}`).toBe(readFileSync(join(example, b.file), "utf8"));
});

it("leaves no file of the example out and shows none twice", () => {
  const files = ["package.json", "tsconfig.json", "vitest.config.ts", ...["src", "test"].flatMap((d) => readdirSync(join(example, d)).map((f) => `${d}/${f}`))];
  expect(blocks.map((b) => b.file).sort()).toEqual(files.filter((f) => f !== "test/tutorial.test.ts").sort());
});

it("runs the README's example: the guest's shout comes back upper-cased, and nothing leaks", async () => {
  let leaks: readonly Leak[] | undefined;
  const createHost: typeof toolstack.createHost = async (opts) => {
    const h = await toolstack.createHost(opts);
    const close = h.close.bind(h);
    h.close = async () => {
      await h.hv.settle();
      leaks ??= (await checkLeaks(h)).leaks; // as the example's `await using` closes the host
      return close();
    };
    return h;
  };
  const readme = readFileSync(join(example, "README.md"), "utf8");
  const { printed } = await runExample(readme, "readme", { "@pvkit/guest-sdk": sdk, "@pvkit/toolstack": { ...toolstack, createHost }, "@pvkit/example-upcase": upcase });
  expect(printed).toEqual(["HELLO FROM D1"]);
  expect(leaks).toEqual([]);
});
