// The tutorial's deliberate bug: a backend that forgets to notify. The shout never completes;
// instead of a vitest timeout, the test fails with the sanitizer's finding, which names the
// domain, the device, the ring, which side skipped what, and where in the trace.
import { expect, it } from "vitest";
import { StallError } from "@pvkit/hypervisor-sim";
import type { BackendDriver } from "@pvkit/guest-sdk";
import { SanitizerError, createTestHost, expectFinding, withHost } from "@pvkit/toolstack/testing";
import { type BackState, shout, upcaseBack } from "@pvkit/example-upcase";
import { connectUpcase } from "./harness.js";

/** upcaseBack with the bug: responses are pushed, but the frontend is never told. */
const forgetful: BackendDriver<BackState> = {
  ...upcaseBack,
  async connect(dev) {
    await upcaseBack.connect(dev);
    dev.data!.channel.notify = () => undefined;
  },
};

it("fails with a lost-wakeup finding when the backend forgets to notify", async () => {
  const err = await withHost(async (h) => {
    const c = await connectUpcase(h, forgetful);
    await h.until(shout(c.dev, "anyone there?"), "a shout");
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SanitizerError);
  expect((err as SanitizerError).message.split("\n")).toEqual([
    "pvkit sanitizer: 1 finding",
    "  - [lost-wakeup] d0 (Domain-0) /local/domain/0/backend/upcase/1/0 ring (grant ref 8 of d1, ports d1:3 / d0:4): 1 response(s) pushed where the frontend asked to be woken (rsp_prod 1, rsp_event 1, rsp_cons 0), no event pending, both ends blocked (trace seq 258, t=0 ns). Hint: the backend pushed responses without notifying; notify when pushResponsesAndCheckNotify() says so",
    "the test itself failed with: StallError: a shout can never settle: the host went quiescent at t=0 ns with no timer or delivery left",
    "  d0 (Domain-0): ports 1:VIRQ, 2:INTERDOMAIN, 3:INTERDOMAIN, 4:INTERDOMAIN",
    "  d1 (shouter): ports 1:INTERDOMAIN, 2:INTERDOMAIN, 3:INTERDOMAIN",
    "  d1 (shouter) xenstore: watching /local/domain/1/device/upcase, /local/domain/0/backend/upcase/1/0/state",
  ]);
});

it("passes when the test says it expects the lost wake-up it provokes", async () => {
  const t = await createTestHost();
  expectFinding(t.host, "lost-wakeup");
  const c = await connectUpcase(t.host, forgetful);
  await expect(t.host.until(shout(c.dev, "anyone there?"), "a shout")).rejects.toBeInstanceOf(StallError);
  await c.close();
  await expect(t.finish()).resolves.toMatchObject({ leaks: [] });
});
