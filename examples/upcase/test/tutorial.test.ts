// docs/tutorial.md cannot drift from this example: each of its code blocks marked
// ```<lang> file=<path>``` must be that file of the example, byte for byte, and every file of the
// example (but this one) must be shown. So the tests above run exactly the tutorial's code.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { docBlocks } from "../../../scripts/doc-blocks.js";

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
