// The framework's normal handshake end to end: a tdev frontend in a domU, its backend in dom0.
import { describe, expect, it } from "vitest";
import { useHost } from "@pvkit/toolstack/testing";
import { S, TYPE, readNode, tdevPair, teardown } from "./helpers.js";

describe("xenbus driver framework: normal connect", () => {
  const host = useHost();

  it("connects both ends through InitWait, Initialised, Connected when both drivers behave", async () => {
    const h = host();
    const { log, d0, back, dom, bus, reg } = await tdevPair(h, { order: 1 });
    const fe = await h.until(reg.connected(0), "the frontend reaching Connected");
    const be = await h.until(back.connected(0, dom.domid), "the backend reaching Connected");
    expect(log).toEqual([
      `be:probe ${dom.domid}/0`,
      "fe:initialise 0",
      `be:connect ${dom.domid}/0 order=1 magic=feed protocol=x86_64-abi`,
      "fe:connect 0 feature-x=7",
    ]);
    const fdir = `/local/domain/${dom.domid}/device/${TYPE}/0`;
    expect(readNode(h, `${fdir}/state`)).toBe(String(S.XenbusStateConnected));
    expect(readNode(h, `${fdir}/ring-page-order`)).toBe("1");
    expect([readNode(h, `${fdir}/ring-ref0`), readNode(h, `${fdir}/ring-ref1`)]).toEqual([
      "8",
      "9",
    ]);
    expect(readNode(h, `${fdir}/ring-ref`)).toBeUndefined();
    expect(readNode(h, `${fdir}/event-channel`)).toBe(String(fe.data!.channel.port));
    expect(readNode(h, `/local/domain/0/backend/${TYPE}/${dom.domid}/0/state`)).toBe(
      String(S.XenbusStateConnected),
    );
    expect(fe.resources).toHaveLength(3);
    expect(be.resources).toHaveLength(3);
    // The rings really are shared: the backend's view sees the frontend's write.
    fe.data!.pages[1]!.setU32(8, 0x1234);
    expect(be.data!.pages[1]!.getU32(8)).toBe(0x1234);
    await teardown(h, [bus, d0.bus], [d0.close]);
    expect(log.slice(4)).toEqual(
      expect.arrayContaining(["fe:disconnect 0", `be:disconnect ${dom.domid}/0`]),
    );
  });
});
