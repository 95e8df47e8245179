import { expect, it } from "vitest";
import { runEcho } from "@pvkit/example-echo-device";

const enc = new TextEncoder();

it("echoes each message's bytes back through the ring and grant copies", async () => {
  const page = Uint8Array.from({ length: 4096 }, (_, i) => (i * 13 + 7) & 0xff);
  const messages = [enc.encode("hello"), enc.encode(""), page];
  const lines: string[] = [];
  const run = await runEcho(messages, (l) => lines.push(l));
  expect(run.replies).toEqual(messages);
  expect(run.answered).toBe(3);
  expect(lines.some((l) => l.includes('"hello"'))).toBe(true);
});

it("defers ending the ring grants while the backend maps them, and ends them once it unmaps (XSA-396)", async () => {
  const lines: string[] = [];
  const run = await runEcho([enc.encode("x")], (l) => lines.push(l));
  expect(run.deferredAtDisconnect).toBe(2); // the ring and the hand-off page
  expect(run.deferredAtClose).toBe(0);
  expect(run.leaked).toBe(0);
  expect(lines).toContain("frontend: retried deferred grants: 2 ended, 0 still in use");
});
