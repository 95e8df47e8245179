import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { GrantTableClient } from "@pvkit/guest-sdk";
import { EchoBackend, EchoFrontend, MAX_LEN, runEcho } from "@pvkit/example-echo-device";

/** A connected frontend (domU of `nrPages` pages) and backend (dom0), logging into `lines`. */
async function connected(nrPages: number) {
  const hv = new Hypervisor();
  const dom0 = hv.guest(hv.createDomain({ name: "Domain-0" }).domid);
  const domU = hv.guest(hv.createDomain({ name: "echo-frontend", nrPages }).domid);
  const lines: string[] = [];
  const log = (l: string): void => void lines.push(l);
  const front = new EchoFrontend(domU, dom0.domid, log);
  const back = new EchoBackend(dom0, domU.domid, log);
  await back.connect(front.handoffRef);
  return { hv, domU, front, back, lines, grants: GrantTableClient.of(domU) };
}

/** `n` distinct messages of a few bytes each. */
const messages = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new TextEncoder().encode(`message ${i}`));

describe("EchoFrontend.echo", () => {
  it("waits for replies to free ring slots when given more messages than the ring holds", async () => {
    const { hv, front, back, lines, grants } = await connected(1024); // 510 free pages: the ring is the limit
    const sent = messages(300); // RING_SIZE is 128
    const replies = await front.echo(sent);
    expect(replies).toEqual(sent);
    expect(back.answered).toBe(300);
    expect(lines.some((l) => l.includes("ring full: waiting for a reply"))).toBe(true);
    expect(grants.active).toBe(2); // only the ring and the hand-off page: every data grant ended
    front.disconnect();
    back.close();
    expect(front.close()).toEqual({ stillDeferred: 0, leaked: 0 });
    await hv.settle();
  });

  it("waits for replies to free pages when more messages are in flight than the allocator holds", async () => {
    // runEcho's domU has 256 pages: its allocator holds 128, 2 for the ring and the hand-off page.
    const sent = messages(100);
    const lines: string[] = [];
    const run = await runEcho(sent, (l) => lines.push(l));
    expect(run.replies).toEqual(sent);
    expect(run.answered).toBe(100);
    expect(lines.some((l) => l.includes("out of pages: waiting for a reply"))).toBe(true);
    expect(run.leaked).toBe(0);
  });

  it("refuses an oversized message before granting anything, even after valid ones", async () => {
    const { hv, front, back, grants } = await connected(1024);
    const sent = [...messages(2), new Uint8Array(MAX_LEN + 1)];
    await expect(front.echo(sent)).rejects.toThrow(RangeError);
    await hv.settle();
    expect(grants.active).toBe(2);
    expect(back.answered).toBe(0);
    // The ring was left as it was: the next echo goes through.
    expect(await front.echo(messages(1))).toEqual(messages(1));
    expect(grants.active).toBe(2);
  });

  it("refuses up front, granting nothing, when the allocator cannot hold one request's pages", async () => {
    // 6 pages: the allocator gets GFNs 3..5, two for the ring and the hand-off page, one left.
    const { hv, front, back, grants } = await connected(6);
    await expect(front.echo(messages(1))).rejects.toThrow(/no room for a request: 1 free page/);
    await hv.settle();
    expect(grants.active).toBe(2);
    expect(back.answered).toBe(0);
  });
});
