// The "FIFO event channels" example of README.md, run as written (console.log replaced by `log`).
import { describe, expect, it } from "vitest";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { EventChannels, GuestPageAllocator } from "@pvkit/guest-sdk";

describe("README FIFO example", () => {
  it("runs and prints what the README says", async () => {
    const out: unknown[] = [];
    const log = (a: unknown): void => void out.push(a);

    const hv = new Hypervisor();
    hv.createDomain();
    const domU = hv.createDomain({ vcpus: 2 });
    const guest = hv.guest(domU.domid);
    const ev = EventChannels.of(guest, { abi: "fifo", pages: new GuestPageAllocator(guest.memory) });

    const order: string[] = [];
    const bulk = ev.bindIpi(0, { onEvent: () => order.push("bulk") });
    const urgent = ev.bindIpi(0, { onEvent: () => order.push("urgent") });
    bulk.setPriority(9);
    urgent.setPriority(0);
    bulk.notify();
    urgent.notify();
    await urgent.waitFor(0);
    log(order);

    expect(out).toEqual([["urgent", "bulk"]]);
  });
});
