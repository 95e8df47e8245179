// XSA-391 on the console frontend: a backend that notifies again and again with nothing in the
// ring costs the guest one EOI'd, spurious event each, and the console still works after.
import { describe, expect, it } from "vitest";
import {
  GNTMAP,
  GNTTAB_RESERVED_CONSOLE,
  XEN_PAGE_SHIFT,
  xencons_interface,
} from "@pvkit/hypervisor-sim/abi";
import { GNTTAB_GFN_BASE } from "@pvkit/hypervisor-sim";
import { mapGrantRefs, unmapGrantRefs } from "@pvkit/guest-sdk/hypercall";
import { createTestHost } from "@pvkit/toolstack/testing";
import { ConsoleFront } from "@pvkit/split-drivers";
import { guestCtx } from "./helpers.js";

describe("console frontend against an event storm", () => {
  it("counts 10 000 empty notifications as spurious, EOIs each, and still writes afterwards", async () => {
    await using t = await createTestHost({ mode: "manual", xenconsoled: false }); // the test is the backend
    const { domid, ctx } = await guestCtx(t.host);
    const front = ConsoleFront.open(ctx);
    const g0 = t.host.dom0.guest;
    const gfn = GNTTAB_GFN_BASE - 50;
    const [op] = mapGrantRefs(g0.hypercall, [
      {
        host_addr: gfn << XEN_PAGE_SHIFT,
        flags: GNTMAP.GNTMAP_host_map,
        ref: GNTTAB_RESERVED_CONSOLE,
        dom: domid,
      },
    ]);
    const ch = t.host.dom0.events.bindInterdomain(domid, front.port);
    for (let i = 0; i < 10_000; i++) {
      ch.notify();
      await t.host.hv.settle();
    }
    expect(front.stats.events).toBe(10_000);
    expect(front.stats.spuriousEvents).toBe(10_000);
    expect(front.halted).toBeUndefined();
    expect(front.tryWrite("ok")).toBe(2);
    const page = g0.memory.writablePage(gfn);
    expect(page.getU32(xencons_interface.out_prod[0])).toBe(2);
    ch.close();
    unmapGrantRefs(g0.hypercall, [
      { host_addr: gfn << XEN_PAGE_SHIFT, dev_bus_addr: 0, handle: op!.handle! },
    ]);
    front.destroy();
    await t.finish();
  });
});
