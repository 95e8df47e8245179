// The blk example of README.md is this folder's example.ts, byte for byte, and it runs.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { example } from "./example.js";

it("is the README's blk example, byte for byte", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const block = /```ts file=test\/blk\/readme\/example\.ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBe(readFileSync(new URL("./example.ts", import.meta.url), "utf8"));
});

it("writes a sector through blkfront and blkback and reads it back", async () => {
  expect(await example()).toBe("hello, disk");
});
