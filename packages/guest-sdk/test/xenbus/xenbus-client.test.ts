// XenbusClient.fromStartInfo: the ring and port come from the guest's start_info page
// (xen.h `struct start_info`: store_mfn, store_evtchn).
import { describe, expect, it } from "vitest";
import { writeStartInfo, XS } from "@pvkit/hypervisor-sim/abi";
import { XenbusClient } from "@pvkit/guest-sdk";
import { evtchnAllocUnbound } from "@pvkit/guest-sdk/hypercall";
import { STORE_GFN, scriptedPeer, text } from "./scripted-peer.js";

const START_INFO_GFN = 6;

describe("XenbusClient.fromStartInfo", () => {
  it("uses store_mfn as the ring page and store_evtchn as the port", async () => {
    const peer = scriptedPeer();
    writeStartInfo(peer.gu.memory.writablePage(START_INFO_GFN), {
      nr_pages: 8,
      store_mfn: STORE_GFN,
      store_evtchn: peer.channel.port,
    });
    const xs = XenbusClient.fromStartInfo(peer.gu, peer.evu, { startInfoGfn: START_INFO_GFN });
    const r = xs.read("name");
    await peer.settle();
    const [m] = peer.takeRequests();
    expect([m!.type, text(m!)]).toEqual([XS.XS_READ, "name\0"]);
    peer.reply(m!, "guest");
    await peer.settle();
    expect(await r).toBe("guest");
    xs.close(); // it owns the adopted port
    expect(peer.channel.closed).toBe(true);
  });

  it("adopts a store port the guest has not bound in its event subsystem", () => {
    const peer = scriptedPeer();
    const raw = evtchnAllocUnbound(peer.gu.hypercall, 0); // as the domain builder leaves it
    expect(peer.evu.channel(raw)).toBeUndefined();
    writeStartInfo(peer.gu.memory.writablePage(START_INFO_GFN), {
      store_mfn: STORE_GFN,
      store_evtchn: raw,
    });
    const xs = XenbusClient.fromStartInfo(peer.gu, peer.evu, { startInfoGfn: START_INFO_GFN });
    expect(peer.evu.channel(raw)?.kind).toBe("adopted");
    xs.close();
    expect(peer.evu.channel(raw)).toBeUndefined();
  });

  it("refuses a page without the Xen magic", () => {
    const peer = scriptedPeer();
    expect(() =>
      XenbusClient.fromStartInfo(peer.gu, peer.evu, { startInfoGfn: START_INFO_GFN }),
    ).toThrow(RangeError);
  });
});
