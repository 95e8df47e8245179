// The blk example of README.md is this folder's example.ts, byte for byte, and it runs.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { docBlocks } from "../../../../../scripts/doc-blocks.js";
import { example } from "./example.js";

it("is the README's blk example, byte for byte", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const block = docBlocks(readme).find(
    (b) => b.attrs["file"] === "test/blk/readme/example.ts",
  )?.body;
  expect(block).toBe(readFileSync(new URL("./example.ts", import.meta.url), "utf8"));
});

it("writes a sector through blkfront and blkback and reads it back", async () => {
  expect(await example()).toBe("hello, disk");
});
