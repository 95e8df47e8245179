// A console whose domain is destroyed under it ends as "closed": a read pass queued after the
// ring page died (a new input$ subscriber, a stream's read) does not throw DeadMappingError from
// a microtask; it completes input$ and rejects writes with reason "closed".
import { expect, it } from "vitest";
import { lastValueFrom, toArray } from "rxjs";
import { createTestHost } from "@pvkit/toolstack/testing";
import { ConsoleError, ConsoleFront } from "@pvkit/split-drivers";
import { guestCtx } from "./helpers.js";

it("ends input$ and rejects writes as closed when the console's domain was destroyed", async () => {
  await using t = await createTestHost();
  const { domid, ctx } = await guestCtx(t.host);
  const front = ConsoleFront.open(ctx);
  await t.host.until(front.write(new TextEncoder().encode("before\n")), "the first write");
  await t.host.until(t.host.destroyDomain(domid), "destroying the guest");
  // Subscribing starts a read pass on the dead page.
  const input = await t.host.until(lastValueFrom(front.input$.pipe(toArray())), "input$ ending");
  expect(input).toEqual([]);
  expect(front.closed).toBe(true);
  const err = await front.write(new TextEncoder().encode("after\n")).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConsoleError);
  expect((err as ConsoleError).fault.reason).toBe("closed");
});
