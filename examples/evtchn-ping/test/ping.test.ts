import { expect, it } from "vitest";
import { runPing } from "@pvkit/example-evtchn-ping";

it("the receiver's upcall sees the sender's event on its allocated port", async () => {
  const lines: string[] = [];
  const port = await runPing((l) => lines.push(l));
  expect(port).toBe(1);
  expect(lines.at(-1)).toBe("receiver: upcall saw an event on port 1");
  expect(lines.some((l) => l.startsWith('sender: saw "go"'))).toBe(true);
});
